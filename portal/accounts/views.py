"""Sign in and out, register, confirm an address, reset a forgotten password.

Every form carries a CSRF token; the POSTs are throttled per address and per account in
`portal.api.limits`. Answers never tell whether an address has an account: registration and
reset requests end on the same "check your mail" page either way.
"""

from __future__ import annotations

import functools
from urllib.parse import urlparse

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from portal.accounts import service
from portal.accounts.forms import EmailForm, LoginForm, RegisterForm, ResetForm
from portal.accounts.mail import send_mail
from portal.auth import current_actor
from portal.db import get_session

bp = Blueprint("accounts", __name__)


def login_required(view):
    """Send anonymous visitors to the sign-in page, and back here afterwards."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_actor().is_anonymous:
            return redirect(url_for("accounts.login", next=request.full_path))
        return view(*args, **kwargs)
    return wrapper


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the home page (no open redirect)."""
    parsed = urlparse(target or "")
    if not target or parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith(("//", "/\\")):
        return url_for("site.home")
    return target


def _sign_in(user_id: int) -> None:
    locale = session.get("locale")
    session.clear()  # a fresh session on sign-in: nothing planted before survives
    session["user_id"] = user_id
    if locale:
        session["locale"] = locale


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        actor = service.authenticate(get_session(), form.email.data, form.password.data)
        if actor is not None:
            _sign_in(actor.user_id)
            return redirect(safe_next(request.args.get("next")))
        flash(_("Wrong email or password."), "error")
    return render_template("accounts/login.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
def logout():
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    return redirect(url_for("site.home"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if not current_app.config["REGISTRATION_OPEN"]:
        abort(404)
    form = RegisterForm()
    if form.validate_on_submit():
        user = service.register_user(get_session(), email=form.email.data, password=form.password.data)
        if user is not None:
            send_confirmation(user)
        else:
            _send_account_exists(form.email.data)
        return render_template("accounts/check_mail.html", email=form.email.data.strip().lower())
    return render_template("accounts/register.html", form=form), 200 if not form.errors else 400


@bp.get("/confirm/<token>")
def confirm_email(token: str):
    service.confirm_email(get_session(), token, secret=current_app.config["SECRET_KEY"],
                          max_age=current_app.config["CONFIRM_TOKEN_HOURS"] * 3600)
    flash(_("Your e-mail address is confirmed."), "info")
    return redirect(url_for("accounts.account" if not current_actor().is_anonymous else "accounts.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = EmailForm()
    if form.validate_on_submit():
        user = service.user_by_email(get_session(), form.email.data)
        if user is not None:
            _send_reset(user)
        return render_template("accounts/check_mail.html", email=form.email.data.strip().lower())
    return render_template("accounts/forgot.html", form=form), 200 if not form.errors else 400


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    secret, max_age = current_app.config["SECRET_KEY"], current_app.config["RESET_TOKEN_MINUTES"] * 60
    service.check_reset_token(get_session(), token, secret=secret, max_age=max_age)
    form = ResetForm()
    if form.validate_on_submit():
        service.reset_password(get_session(), token, form.password.data, secret=secret, max_age=max_age)
        session.clear()
        flash(_("Your password is changed. Please sign in."), "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/reset.html", form=form), 200 if not form.errors else 400


def send_confirmation(user) -> None:
    link = url_for("accounts.confirm_email", token=service.confirmation_token(
        user, secret=current_app.config["SECRET_KEY"]), _external=True)
    send_mail(current_app.config, to=user.email, subject=_("Confirm your Kaifang account"),
              body=_("Open this link to confirm your e-mail address (it is valid for %(hours)d hours):\n\n"
                     "%(link)s\n\nIf you did not register, ignore this mail.",
                     hours=current_app.config["CONFIRM_TOKEN_HOURS"], link=link))


def _send_reset(user) -> None:
    link = url_for("accounts.reset_password", token=service.reset_token(
        user, secret=current_app.config["SECRET_KEY"]), _external=True)
    send_mail(current_app.config, to=user.email, subject=_("Reset your Kaifang password"),
              body=_("Open this link to choose a new password (it is valid for %(minutes)d minutes):\n\n"
                     "%(link)s\n\nIf you did not ask for this, ignore this mail; your password stays as it is.",
                     minutes=current_app.config["RESET_TOKEN_MINUTES"], link=link))


def _send_account_exists(email: str) -> None:
    user = service.user_by_email(get_session(), email)
    if user is None:
        return
    link = url_for("accounts.forgot_password", _external=True)
    send_mail(current_app.config, to=user.email, subject=_("Your Kaifang account"),
              body=_("Someone (perhaps you) tried to register with this address, which has an account "
                     "already. If you forgot the password, choose a new one here:\n\n%(link)s\n\n"
                     "If it was not you, ignore this mail.", link=link))


from portal.accounts import pages  # noqa: E402,F401 - the account page's routes, on this blueprint
