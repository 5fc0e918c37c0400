"""A visitor registers, confirms the address from the mail, signs in; forgets and resets the password.
Tokens are signed, expire, and a reset link dies once used."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from portal.accounts.models import User
from portal.db import session_scope
from tests.integration.accounts.forms import csrf, link_in, mails, post_form

EMAIL, PASSWORD = "new.dev@example.org", "a-long-password-1"


def _user(app, email=EMAIL) -> User:
    with app.app_context(), session_scope(app) as session:
        return session.scalar(select(User).where(User.email == email))


def _register(client, email=EMAIL, password=PASSWORD):
    return post_form(client, "/register", {"email": email, "password": password, "confirm": password})


def test_register_confirm_and_sign_in(app, client):
    response = _register(client)
    assert response.status_code == 200 and EMAIL in response.text
    user = _user(app)
    assert user.role == "developer" and user.email_confirmed_at is None and PASSWORD not in user.password_hash
    assert user.password_hash.startswith("$argon2id$")
    (mail,) = mails(app)
    assert mail["To"] == EMAIL and "确认" in mail["Subject"]
    confirmed = client.get(link_in(mail))
    assert confirmed.status_code == 302 and confirmed.headers["Location"].endswith("/login")
    assert _user(app).email_confirmed_at is not None
    signed_in = post_form(client, "/login?next=/account", {"email": EMAIL, "password": PASSWORD}, form_page="/login")
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/account"
    page = client.get("/account")
    assert page.status_code == 200 and EMAIL in page.text and "创建密钥" in page.text


def test_registering_a_taken_address_reveals_nothing_and_warns_the_owner(app, client):
    _register(client)
    again = _register(app.test_client(), password="another-password-2")
    assert again.status_code == 200 and EMAIL in again.text  # the same page as a new registration
    first, second = mails(app)
    assert second["To"] == EMAIL and "/password/forgot" in link_in(second)
    assert len(list(_all_users(app))) == 1


def _all_users(app):
    with app.app_context(), session_scope(app) as session:
        return session.scalars(select(User)).all()


@pytest.mark.parametrize("data, field, name", [
    ({"email": "not-an-address", "password": PASSWORD, "confirm": PASSWORD}, "邮箱", "email"),
    ({"email": EMAIL, "password": "short", "confirm": "short"}, "10", "password"),
    ({"email": EMAIL, "password": PASSWORD, "confirm": PASSWORD + "x"}, "不一致", "confirm"),
])
def test_bad_registrations_are_refused_on_the_form(app, client, data, field, name):
    response = post_form(client, "/register", data)
    assert response.status_code == 400 and field in response.text
    assert _user(app) is None and mails(app) == []
    # the error sits beside its field, which says it is invalid (not in a list above the button)
    assert f'aria-describedby="{name}-error"' in response.text and f'id="{name}-error"' in response.text
    assert "flash-error" not in response.text


def test_registration_needs_csrf(client):
    response = client.post("/register", data={"email": EMAIL, "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 400


def test_registration_can_be_closed(tmp_path):
    from tests.conftest import empty_app

    app = empty_app(tmp_path / "closed", REGISTRATION_OPEN=False)
    assert app.test_client().get("/register").status_code == 404
    assert "/register" not in app.test_client().get("/login").text


def test_forgot_and_reset_password(app, client):
    _register(client)
    post_form(client, "/password/forgot", {"email": EMAIL})
    reset = mails(app)[-1]
    assert "重置" in reset["Subject"]
    path = link_in(reset)
    assert client.get(path).status_code == 200
    done = post_form(client, path, {"password": "brand-new-password-3", "confirm": "brand-new-password-3"})
    assert done.status_code == 302
    assert _user(app).email_confirmed_at is not None  # the link reached the mailbox
    assert client.get(path).status_code == 422  # used: the password changed since it was sent
    ok = post_form(client, "/login", {"email": EMAIL, "password": "brand-new-password-3"})
    assert ok.status_code == 302
    old = post_form(app.test_client(), "/login", {"email": EMAIL, "password": PASSWORD})
    assert old.status_code == 200 and "邮箱或密码错误" in old.text


def test_forgot_password_for_an_unknown_address_looks_the_same(app, client):
    response = post_form(client, "/password/forgot", {"email": "nobody@example.org"})
    assert response.status_code == 200 and "nobody@example.org" in response.text
    assert mails(app) == []


def test_expired_and_forged_links(app, client, monkeypatch):
    _register(client)
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 3 * 86400)
    post_form(client, "/password/forgot", {"email": EMAIL})
    client.post("/account/confirm")  # anonymous: sent to sign in, nothing mailed
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    old_reset = link_in(mails(app)[-1])
    expired = client.get(old_reset)
    assert expired.status_code == 410 and "过期" in expired.text
    expired_json = client.get(old_reset, headers={"Accept": "application/json"})
    assert expired_json.json["code"] == "token-expired"
    confirm = link_in(mails(app)[0])
    forged = client.get(confirm[:-3] + ("aaa" if not confirm.endswith("aaa") else "bbb"))
    assert forged.status_code == 422 and forged.json is None and "无效" in forged.text
    # A confirmation token is no reset token (one salt per purpose).
    assert client.get("/password/reset/" + confirm.rsplit("/", 1)[1]).status_code == 422


def test_unconfirmed_account_can_resend_the_link_but_not_make_keys(app, client):
    _register(client)
    post_form(client, "/login", {"email": EMAIL, "password": PASSWORD})
    page = client.get("/account")
    assert "未确认" in page.text and "创建密钥" not in page.text
    response = post_form(client, "/account/keys", {"name": "x", "scopes": "catalog:read"}, form_page="/account")
    assert response.status_code == 403
    resent = post_form(client, "/account/confirm", {}, form_page="/account")
    assert resent.status_code == 302 and len(mails(app)) == 2
    assert csrf(client, "/account")


@pytest.mark.parametrize("target, landing", [("/account", "/account"), ("//evil.example/x", "/"),
                                             ("https://evil.example/", "/"), ("/\\evil.example", "/")])
def test_sign_in_goes_back_only_to_this_site(app, target, landing):
    from tests import factories

    email = factories.user(app, "developer")
    client = app.test_client()
    response = post_form(client, f"/login?next={target}", {"email": email, "password": factories.PASSWORD},
                         form_page="/login")
    assert response.status_code == 302 and response.headers["Location"] == landing


def test_sign_in_starts_a_fresh_session(app):
    from tests import factories

    email = factories.user(app, "developer")
    client = app.test_client()
    with client.session_transaction() as planted:
        planted["planted"] = "by an attacker"
    post_form(client, "/login", {"email": email, "password": factories.PASSWORD})
    with client.session_transaction() as session:
        assert "planted" not in session and session["user_id"]
