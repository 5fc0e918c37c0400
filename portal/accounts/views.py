"""Sign in and sign out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _

from portal.accounts import service
from portal.accounts.forms import LoginForm
from portal.db import get_session

bp = Blueprint("accounts", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        actor = service.authenticate(get_session(), form.email.data, form.password.data)
        if actor is not None:
            session.clear()
            session["user_id"] = actor.user_id
            return redirect(url_for("site.home"))
        flash(_("Wrong email or password."), "error")
    return render_template("accounts/login.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
def logout():
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    return redirect(url_for("site.home"))
