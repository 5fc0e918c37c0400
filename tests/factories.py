"""Test data made the way users make it: dataset folders on disk, loaded through the services."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask

from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.db import session_scope

CSV = "code,name,population,founded\n010101,和平区,355000,1404-12-23\n010102,河东区,860000,1404-12-23\n010103,河西区,990000,\n"


def dataset_folder(root: Path, slug: str = "districts", *, csv: str = CSV, open_class: str = "open",
                   title_zh: str = "行政区", department: str = "stats-bureau", **ext) -> Path:
    folder = root / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.csv").write_text(csv, encoding="utf-8")
    descriptor = {
        "name": slug, "title": "Districts", "description": "Test districts.",
        "licenses": [{"name": "CC0-1.0", "title": "CC0", "path": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "keywords": ["districts"],
        "resources": [{"name": "data", "path": "data.csv", "format": "csv", "encoding": "utf-8",
                       "schema": {"fields": [{"name": "code", "type": "string"}, {"name": "name", "type": "string"},
                                             {"name": "population", "type": "integer"}, {"name": "founded", "type": "date"}]}}],
        "kaifang": {"title_zh": title_zh, "description_zh": "测试", "theme": "geospatial", "tags_zh": ["区划"],
                    "department": {"slug": department, "name_zh": "市统计局", "name_en": "Statistics Bureau"},
                    "open_class": open_class, "update_frequency": "annual",
                    "fields": {"code": {"description_zh": "代码", "identifier": False}}, **ext},
    }
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    return folder


def load(app: Flask, folder: Path) -> publishing.LoadOutcome:
    with app.app_context(), session_scope(app) as session:
        return publishing.load_package(session, SYSTEM, folder, data_dir=Path(app.config["DATA_DIR"]))


PASSWORD = "factory-password-1"


def user(app: Flask, role: str = "developer", *, email: str | None = None, confirmed: bool = True) -> str:
    """A new account with `role` (publishers in the bundled transport department), made through the
    services; returns its email. The password is `PASSWORD`."""
    import uuid

    from portal.accounts import service
    from portal.accounts.models import User

    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    department = None
    with app.app_context(), session_scope(app) as session:
        if role == "publisher":
            department = _some_department(session)
        service.create_user(session, SYSTEM, email=email, password=PASSWORD, role=role, department=department)
        if not confirmed:
            session.query(User).filter_by(email=email).update({"email_confirmed_at": None})
            session.commit()
    return email


def _some_department(session) -> str:
    from portal.catalog.models import Department

    found = session.query(Department).order_by(Department.id).first()
    if found is None:
        session.add(Department(slug="stats-bureau", name_zh="市统计局", name_en="Statistics Bureau"))
        session.commit()
        return "stats-bureau"
    return found.slug


def api_key(app: Flask, email: str, *, scopes=("catalog:read", "rows:read"), tier: str | None = None,
            expires_days: int | None = None, name: str = "test key") -> str:
    """A new API key of the account `email`, made through the services; returns the key itself."""
    from portal.accounts import keys, service

    with app.app_context(), session_scope(app) as session:
        owner = service.user_by_email(session, email)
        actor = service.actor_for(session, owner.id)
        made = keys.create_key(session, actor, name=name, scopes=list(scopes),
                               tier=app.config["RATELIMIT_DEFAULT_TIER"], expires_days=expires_days)
        if tier:
            keys.set_tier(session, SYSTEM, made.summary.prefix, tier, tiers=list(app.extensions["kaifang.tiers"]))
    return made.secret


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(person: int) -> str:
    """A well-formed mainland resident ID number (GB 11643 check character), one per `person`:
    born in Tianjin's Heping district on a day from 1 January 1950 (`person // 1000` days on),
    the sequence number `person % 1000`."""
    from datetime import date, timedelta

    born = date(1950, 1, 1) + timedelta(days=person // 1000)
    body = f"120101{born:%Y%m%d}{person % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def identity(person: int, *, name: str = "测试申请人"):
    """The identity an applicant gives (decision 0031e): one number per person."""
    from portal.access.schemas import ApplicantIdentity

    return ApplicantIdentity(f"{name}{person}", "resident", resident_id(person))


def apply_for(session, actor, draft, *, review_days: int = 2, person: int | None = None):
    """`applications.apply` as an applicant makes it now, with a real-name identity: by default
    the account's own person (one person per account, so accounts stay apart as before); in an
    app context. The digests' key is the app's, or on an instance without a disclosure key (the
    shared bundled one, whose pages must keep having none) a fixed one of the tests."""
    from dataclasses import replace

    from flask import current_app

    from portal.access import applications
    from portal.access.identity import Unavailable, identity_key

    if draft.identity is None:
        draft = replace(draft, identity=identity(actor.user_id if person is None else person))
    try:
        key = identity_key(current_app.config)
    except Unavailable:
        key = b"tests-identity-key-without-a-disclosure-key"
    return applications.apply(session, actor, draft, review_days=review_days, identity_key=key)
