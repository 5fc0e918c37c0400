"""Real-name applications (decision 0031e): the form asks who applies and checks a resident ID's
check character; the portal keeps a keyed digest of the number and its last four characters,
never the number; a steward approving an applicant who holds grants under another account is
warned, and the new grant charges that account's budgets."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from sqlalchemy import inspect, select, text

from portal.access.identity import normalise
from portal.access.models import Application, Grant
from portal.accounts import service as accounts
from portal.db import database, session_scope
from tests import factories
from tests.integration.access.test_lifecycle import CLINIC, FORM, INCOME, application_id, approve
from tests.integration.accounts.forms import post_form

PEOPLE = itertools.count(700)


def _apply(client, person: int, *datasets, **fields):
    who = factories.identity(person)
    data = {**FORM, "datasets": list(datasets or (CLINIC,)), "save": "submit", "applicant_name": who.name,
            "document_type": who.document_type, "id_number": who.number, **fields}
    return post_form(client, "/access/apply", data)


def _user_id(app, email: str) -> int:
    with app.app_context(), session_scope(app) as session:
        return accounts.user_by_email(session, email).id


def test_a_bad_check_character_is_a_field_error_and_nothing_is_saved(access_app, as_role):
    developer = as_role("developer")
    good = factories.resident_id(next(PEOPLE))
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    developer.get("/locale/en")
    answer = _apply(developer, next(PEOPLE), id_number=bad)
    assert answer.status_code == 400
    assert "does not match its check (GB 11643)" in answer.text
    developer.get("/locale/zh_CN")
    assert "校验" in _apply(developer, next(PEOPLE), id_number=bad).text
    assert "18" in _apply(developer, next(PEOPLE), id_number="12345").text
    assert _apply(developer, next(PEOPLE), applicant_name="").status_code == 400
    assert _apply(developer, next(PEOPLE), credit_code="91350100M000100Y44").status_code == 400
    with access_app.app_context(), session_scope(access_app) as session:
        mine = session.scalars(select(Application).where(
            Application.user_id == accounts.user_by_email(session, developer.email).id)).all()
    assert mine == []
    # a passport is checked loosely; a lower-case x and spaces are the same resident ID
    assert _apply(developer, next(PEOPLE), document_type="passport", id_number="E12345678").status_code == 302
    spaced = next(n for n in map(factories.resident_id, itertools.count(9000)) if n.endswith("X"))
    assert _apply(developer, next(PEOPLE), id_number=f" {spaced[:6]} {spaced[6:14]} {spaced[14:].lower()}").status_code == 302


def _label_of(page: str, name: str) -> str:
    """The <label> that holds the input (or select, textarea) named `name`."""
    found = re.search(rf'<label>(?:(?!</label>).)*name="{name}"(?:(?!</label>).)*</label>', page, re.S)
    assert found, f"no label around {name}"
    return found.group(0)


def test_a_field_error_is_shown_beside_its_field_with_the_values_kept(access_app, as_role):
    developer = as_role("developer")
    good = factories.resident_id(next(PEOPLE))
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    developer.get("/locale/en")
    page = _apply(developer, next(PEOPLE), id_number=bad, credit_code="91350100M000100Y44").text
    number = _label_of(page, "id_number")
    assert "does not match its check (GB 11643)" in number and 'aria-invalid="true"' in number
    assert f'value="{bad}"' in number and 'class="field-error" id="id_number-error"' in number
    assert "GB 32100" in _label_of(page, "credit_code")
    assert "GB 11643" not in _label_of(page, "credit_code") and 'aria-invalid' not in _label_of(page, "applicant_name")
    assert 'class="flash flash-error"' not in page  # not above the buttons
    assert FORM["organisation"] in _label_of(page, "organisation") and FORM["purpose"] in _label_of(page, "purpose")
    assert 'value="60"' in _label_of(page, "duration_days")
    assert re.search(rf'value="{CLINIC}"[^>]*checked|checked[^>]*value="{CLINIC}"', page)


def test_the_services_field_errors_are_shown_beside_their_fields_too(access_app, as_role, monkeypatch):
    """What only the service checks reaches the page as its own checks do: beside the field it
    names, the values kept; an error of no field of the form above the buttons."""
    from portal.access import applications
    from portal.errors import Invalid

    def refuse(*args, **kwargs):
        raise Invalid("the application is not complete",
                      errors={"datasets": ["'x' is not a conditional dataset"], "identity": ["required"]})

    monkeypatch.setattr(applications, "apply", refuse)
    developer = as_role("developer")
    answer = _apply(developer, next(PEOPLE))
    assert answer.status_code == 400
    datasets = re.search(r"<fieldset><legend>.*?</fieldset>", answer.text, re.S).group(0)
    assert "is not a conditional dataset" in datasets and 'class="field-error"' in datasets
    assert '<p class="flash flash-error">required</p>' in answer.text
    assert FORM["organisation"] in _label_of(answer.text, "organisation")


def test_the_number_is_never_stored_only_its_digest_and_last_four(access_app, as_role):
    developer = as_role("developer")
    number = factories.resident_id(next(PEOPLE))
    answer = _apply(developer, 0, id_number=number, credit_code="91350100M000100Y43")
    assert answer.status_code == 302
    with access_app.app_context(), session_scope(access_app) as session:
        row = session.get(Application, application_id(answer))
        assert (row.document_type, row.id_last4, row.credit_code) == ("resident", number[-4:], "91350100M000100Y43")
        assert len(row.id_digest) == 64 and number not in row.id_digest
    engine = database(access_app).engine
    with engine.connect() as conn:  # every row of every table
        for table in inspect(engine).get_table_names():
            for values in conn.execute(text(f'SELECT * FROM "{table}"')):
                assert not any(number in str(v) or number[:-4] in str(v) for v in values), table
    files = [Path(engine.url.database), Path(f"{engine.url.database}-wal")]
    assert all(number.encode() not in f.read_bytes() for f in files if f.exists())
    page = developer.get(f"/access/applications/{application_id(answer)}").text
    assert number[-4:] in page and number not in page


def test_the_steward_is_warned_of_the_same_applicant_under_another_account(access_app, as_role):
    steward, first, second, stranger = (as_role(r) for r in ("steward", "developer", "developer", "developer"))
    person = next(PEOPLE)
    earlier = application_id(_apply(first, person, CLINIC))
    page = steward.get(f"/access/applications/{earlier}").text
    assert 'id="same-applicant"' not in page, "a first application warns of nothing"
    assert approve(steward, earlier).status_code == 302
    later = application_id(_apply(second, person, CLINIC, INCOME))
    other = application_id(_apply(stranger, next(PEOPLE), CLINIC))
    steward.get("/locale/en")
    page = steward.get(f"/access/applications/{later}").text
    assert 'id="same-applicant"' in page
    assert f"The same applicant holds grants under account {first.email}" in page
    assert 'id="same-applicant"' not in steward.get(f"/access/applications/{other}").text
    steward.get("/locale/zh_CN")
    assert f"同一申请人已在账户 {first.email} 下持有授权" in steward.get(f"/access/applications/{later}").text
    assert first.email not in second.get(f"/access/applications/{later}").text, "the applicant does not see it"
    assert approve(steward, later, **{f"approve-{INCOME}": "1", f"version-{INCOME}": "1",
                                      f"all-columns-{INCOME}": "1"}).status_code == 302
    assert approve(steward, other).status_code == 302
    ids = {c: _user_id(access_app, c.email) for c in (first, second, stranger)}
    with access_app.app_context(), session_scope(access_app) as session:
        charged = {(g.user_id, g.dataset_id): g.budget_user_id
                   for g in session.scalars(select(Grant).where(Grant.user_id.in_(ids.values())))}
        clinic, income = (session.scalar(text("SELECT id FROM datasets WHERE slug = :s"), {"s": s}) for s in (CLINIC, INCOME))
    assert charged[ids[second], clinic] == ids[first], "one person, one budget on the clinic visits"
    assert charged[ids[second], income] == ids[second], "nobody of that person held the survey before"
    assert charged[ids[first], clinic] == ids[first] and charged[ids[stranger], clinic] == ids[stranger]
    steward.get("/locale/en")
    grants = steward.get("/steward/grants").text
    assert f"shared with account {first.email} (the same applicant)" in grants
    second.get("/locale/en")
    mine = second.get(f"/access/applications/{later}").text
    assert "shared with your other account's grants" in mine and first.email not in mine, "which account: stewards only"
    key = factories.api_key(access_app, second.email, scopes=("sandbox:run",))
    listed = access_app.test_client().get(f"/api/v1/applications/{later}", headers={"Authorization": f"Bearer {key}"}).json
    assert sorted(map(repr, (g["budget_account"] for g in listed["grants"]))) == ["''", "None"]


def test_a_renewal_keeps_the_identity_and_the_api_checks_it(access_app, as_role):
    steward, developer = as_role("steward"), as_role("developer")
    number = factories.resident_id(next(PEOPLE))
    made = application_id(_apply(developer, 0, id_number=number))
    assert approve(steward, made).status_code == 302
    renewed = post_form(developer, f"/access/applications/{made}/renew", {}, form_page=f"/access/applications/{made}")
    assert renewed.status_code == 302
    with access_app.app_context(), session_scope(access_app) as session:
        old, new = (session.get(Application, i) for i in (made, application_id(renewed)))
        assert (new.id_digest, new.id_last4, new.applicant_name) == (old.id_digest, old.id_last4, old.applicant_name)
    key = factories.api_key(access_app, developer.email, scopes=("sandbox:run",))
    body = {"datasets": [CLINIC], "purpose": "p", "organisation": "o", "applicant_name": "赵六",
            "id_number": normalise(number)[:-1] + ("1" if number[-1] != "1" else "2")}
    answer = access_app.test_client().post("/api/v1/applications", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 422 and "id_number" in answer.json["errors"], answer.json
    del body["id_number"]
    answer = access_app.test_client().post("/api/v1/applications", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 400
    body["id_number"] = number
    answer = access_app.test_client().post("/api/v1/applications", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 201 and answer.json["id_last4"] == number[-4:]
    assert "id_digest" not in answer.json and number not in answer.text
