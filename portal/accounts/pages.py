"""The account page: the owner's details, API keys (make, revoke, rotate) and their usage chart.

POSTs are checked for their CSRF token by CSRFProtect before they reach these views. A new key's secret is rendered into the response of the POST that made it and never stored or
put in the (signed but readable) session cookie, so it is shown exactly once; that response is
marked `no-store`.
"""

from __future__ import annotations

from flask import current_app, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _

from portal.accounts import keys, service, usage
from portal.accounts.forms import ActionForm, KeyForm
from portal.accounts.keyauth import forget_key
from portal.accounts.views import bp, login_required, send_confirmation
from portal.auth import current_actor
from portal.db import get_session


def _account_page(form: KeyForm, *, new_key: keys.NewKey | None = None, status: int = 200):
    session, actor = get_session(), current_actor()
    page = render_template("accounts/account.html", account=service.get_account(session, actor),
                           keys=keys.list_keys(session, actor), form=form, action=ActionForm(), new_key=new_key)
    response = make_response(page, status)
    if new_key is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/account")
@login_required
def account():
    return _account_page(KeyForm())


@bp.post("/account/keys")
@login_required
def create_key():
    form = KeyForm()
    if not form.validate_on_submit():
        return _account_page(form, status=400)
    new_key = keys.create_key(get_session(), current_actor(), name=form.name.data, scopes=form.scopes.data,
                              tier=current_app.config["RATELIMIT_DEFAULT_TIER"], expires_days=form.expires_days.data)
    return _account_page(KeyForm(formdata=None), new_key=new_key, status=201)


@bp.post("/account/keys/<prefix>/revoke")
@login_required
def revoke_key(prefix: str):
    revoked = keys.revoke_key(get_session(), current_actor(), prefix)
    forget_key(revoked.prefix)
    flash(_("The key %(prefix)s is revoked.", prefix=revoked.prefix), "info")
    return redirect(url_for("accounts.account"))


@bp.post("/account/keys/<prefix>/rotate")
@login_required
def rotate_key(prefix: str):
    new_key = keys.rotate_key(get_session(), current_actor(), prefix)
    forget_key(prefix)
    return _account_page(KeyForm(formdata=None), new_key=new_key, status=201)


@bp.post("/account/confirm")
@login_required
def resend_confirmation():
    account = service.get_account(get_session(), current_actor())
    if account.email_confirmed:
        flash(_("Your e-mail address is confirmed already."), "info")
    else:
        send_confirmation(service.user_by_email(get_session(), account.email))
        flash(_("We sent a new confirmation link to %(email)s.", email=account.email), "info")
    return redirect(url_for("accounts.account"))


@bp.get("/account/usage")
@login_required
def usage_page():
    current_app.extensions["kaifang.usage"].flush()  # this worker's latest calls, before reading
    days = usage.usage_by_day(get_session(), current_actor(), days=30)
    return render_template("accounts/usage.html", days=days,
                           chart=[{"day": d.day.isoformat(), "key": f"{d.name} ({d.prefix})", "calls": d.calls}
                                  for d in days])
