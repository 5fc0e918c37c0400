"""Forms of applications and of the steward's decisions (Flask-WTF: each carries a CSRF token).

The approval form's per-dataset scope (version, columns, row filter) has one group of inputs
per dataset of the application; `ApproveForm.scope` reads them from the posted form, and the
service checks them against the datasets' versions and columns.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import (
    DateField,
    FloatField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from portal.access import identity
from portal.access.schemas import (
    MAX_DURATION_DAYS,
    ApplicantIdentity,
    ApplicationDraft,
    ApprovalScope,
    DatasetScope,
    parse_row_filter,
)
from portal.errors import Invalid


class ApplicationForm(FlaskForm):
    datasets = SelectMultipleField(_l("Datasets"), choices=[], widget=widgets.ListWidget(prefix_label=False),
                                   option_widget=widgets.CheckboxInput())
    purpose = TextAreaField(_l("Purpose of the analysis"), validators=[DataRequired(), Length(max=4000)])
    organisation = StringField(_l("Organisation"), validators=[DataRequired(), Length(max=200)])
    fields_wanted = TextAreaField(_l("Fields you need"), validators=[Optional(), Length(max=2000)])
    intended_outputs = TextAreaField(_l("Intended outputs"), validators=[Optional(), Length(max=2000)])
    duration_days = IntegerField(_l("Duration (days)"), default=90,
                                 validators=[DataRequired(), NumberRange(min=1, max=MAX_DURATION_DAYS)])
    # Real-name application (decision 0031e): the number is checked here and in the service, and
    # kept only as a keyed digest and its last four characters.
    applicant_name = StringField(_l("Your real name"), validators=[DataRequired(), Length(max=100)])
    document_type = SelectField(_l("Identity document"), default="resident", choices=[
        SelectChoice("resident", _l("Resident identity card (mainland)")),
        SelectChoice("passport", _l("Passport")),
        SelectChoice("other", _l("Other identity document"))])
    id_number = StringField(_l("Document number"), validators=[DataRequired(), Length(max=40)])
    credit_code = StringField(_l("Organisation's unified social credit code (optional)"),
                              validators=[Optional(), Length(max=30)])

    # the fields the page shows their errors beside (the others' above the buttons)
    beside = ("datasets", "purpose", "organisation", "fields_wanted", "intended_outputs", "duration_days",
              "applicant_name", "document_type", "id_number", "credit_code")

    def add_errors(self, errors: dict[str, list[str]]) -> None:
        """The service's field errors (`Invalid.errors`: the form's field names) on their fields,
        so the page shows them beside each as it does the form's own; others on the form."""
        for name, messages in errors.items():
            target = self._fields[name].errors if name in self.beside else self.form_errors
            target.extend(messages)

    def validate_datasets(self, field) -> None:
        if not field.data:
            raise ValidationError(_l("Choose at least one dataset."))

    def validate_id_number(self, field) -> None:
        problem = identity.number_error(self.document_type.data, field.data or "")
        if problem is not None:
            raise ValidationError(NUMBER_ERRORS.get(problem, NUMBER_ERRORS["format"]))

    def validate_credit_code(self, field) -> None:
        problem = identity.credit_code_error(field.data or "")
        if problem is not None:
            raise ValidationError(CREDIT_ERRORS[problem])

    def draft(self) -> ApplicationDraft:
        who = ApplicantIdentity(self.applicant_name.data or "", self.document_type.data, self.id_number.data or "",
                                self.credit_code.data or "")
        return ApplicationDraft(tuple(self.datasets.data), self.purpose.data, self.organisation.data,
                                self.duration_days.data, self.fields_wanted.data or "", self.intended_outputs.data or "",
                                who)


NUMBER_ERRORS = {
    "required": _l("The identity document number is required."),
    "document-type": _l("Choose the type of your identity document."),
    "length": _l("A resident ID number has 18 characters: 17 digits, then a digit or X."),
    "birth-date": _l("This resident ID number's date of birth (characters 7 to 14) is not a real date."),
    "checksum": _l("This resident ID number's last character does not match its check (GB 11643): please check it for a typing mistake."),
    "format": _l("A document number has 5 to 30 letters, digits or hyphens."),
}
CREDIT_ERRORS = {
    "format": _l("A unified social credit code has 18 characters: digits and capital letters except I, O, Z, S and V."),
    "checksum": _l("This unified social credit code's last character does not match its check (GB 32100)."),
}


class ApproveForm(FlaskForm):
    expires_on = DateField(_l("Grant expires on"), validators=[DataRequired()])
    daily_cell_budget = IntegerField(_l("Daily cell budget"), default=2000,
                                     validators=[DataRequired(), NumberRange(min=1, max=1_000_000)])
    note = TextAreaField(_l("Note to the applicant"), validators=[Optional(), Length(max=2000)])
    disclosure_mode = SelectField(_l("Disclosure mode"), default="", choices=[
        SelectChoice("", _l("Each dataset's declared mode")),
        SelectChoice("dp", _l("ε-budget (differential privacy)")),
        SelectChoice("sdc", _l("Statistical — accredited analyst, outputs reviewed"))])
    daily_epsilon = FloatField(_l("Daily ε (ε-budget mode)"), validators=[
        Optional(), NumberRange(min=1e-9, max=1_000_000)])
    lifetime_epsilon = FloatField(_l("Lifetime ε (ε-budget mode)"), validators=[
        Optional(), NumberRange(min=1e-9, max=1_000_000)])
    lifetime_cells = IntegerField(_l("Lifetime cells (statistical mode)"), validators=[
        Optional(), NumberRange(min=1, max=1_000_000_000)])

    def fill_defaults(self, duration_days: int) -> None:
        if self.expires_on.data is None:
            self.expires_on.data = date.today() + timedelta(days=duration_days)

    def scope(self, posted: MultiDict, slugs: list[str]) -> ApprovalScope:
        """The scope from the posted groups `approve-<slug>`, `version-<slug>`, `columns-<slug>`,
        `filter-<slug>`.

        Raises:
            Invalid: a missing or wrong expiry or budget, a row filter that does not parse.
        """
        if not self.validate():
            raise Invalid("the approval form is not complete", errors={k: [str(e) for e in v] for k, v in self.errors.items()})
        items = []
        for slug in slugs:
            if posted.get(f"approve-{slug}") != "1":
                continue
            version = posted.get(f"version-{slug}", "").strip()
            columns = posted.getlist(f"columns-{slug}")
            everything = posted.get(f"all-columns-{slug}") == "1"
            try:
                rows = parse_row_filter(posted.get(f"filter-{slug}", ""))
            except ValueError as exc:
                raise Invalid(str(exc), errors={f"filter-{slug}": [str(exc)]}) from exc
            items.append(DatasetScope(slug, int(version) if version.isdigit() else None,
                                      None if everything else tuple(columns), rows))
        return ApprovalScope(tuple(items), self.expires_on.data, self.daily_cell_budget.data, self.note.data or "",
                             self.disclosure_mode.data or None, self.lifetime_epsilon.data, self.lifetime_cells.data,
                             self.daily_epsilon.data)


class ReasonForm(FlaskForm):
    """Refuse or revoke: the reason is required and goes to the applicant."""

    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)])
