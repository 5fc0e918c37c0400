"""Account forms (Flask-WTF, so each carries a CSRF token). Labels are translated lazily."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    widgets,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from portal.accounts.keys import MAX_EXPIRY_DAYS
from portal.accounts.models import SCOPES
from portal.accounts.service import EMAIL, MIN_PASSWORD


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class RegisterForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254),
                                                Regexp(EMAIL, message=_l("This is not an e-mail address."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=MIN_PASSWORD, max=200)])
    confirm = PasswordField(_l("Repeat the password"),
                            validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))])


class EmailForm(FlaskForm):
    """Asks for an address: password reset, or a new confirmation mail."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])


class ResetForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=MIN_PASSWORD, max=200)])
    confirm = PasswordField(_l("Repeat the password"),
                            validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))])


class KeyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    scopes = SelectMultipleField(_l("Scopes"), choices=[SelectChoice(s) for s in SCOPES], default=["catalog:read", "rows:read"],
                                 widget=widgets.ListWidget(prefix_label=False),
                                 option_widget=widgets.CheckboxInput())
    expires_days = IntegerField(_l("Expires after (days, empty for never)"),
                                validators=[Optional(), NumberRange(min=1, max=MAX_EXPIRY_DAYS)])

    def validate_scopes(self, field) -> None:
        # Not DataRequired: it would put `required` on every checkbox, and browsers would then
        # insist that all of them be ticked.
        if not field.data:
            raise ValidationError(_l("Choose at least one scope."))


class ActionForm(FlaskForm):
    """A button that changes something (revoke, rotate, resend): only its CSRF token."""
