"""JSON routes of the accounts domain on API v1: who the calling key is, and its limits."""

from __future__ import annotations

from datetime import UTC

from flask import current_app

from portal.accounts.keyauth import current_key
from portal.api.http import json_response
from portal.api.schemas import Holder, KeyInfo, Me, NoQuery
from portal.api.spec import ANY_SCOPE, endpoint


@endpoint("/me", tag="accounts", scope=ANY_SCOPE, auth="key", query=NoQuery, response=Me)
def me(params: NoQuery):
    """The calling API key: its owner, scopes, tier, limits and expiry.

    Any valid key may call it, whatever its scopes: a first call to check that a new key works."""
    key = current_key()
    tiers = current_app.extensions["kaifang.tiers"]
    expires = key.expires_at.replace(tzinfo=UTC) if key.expires_at else None
    return json_response(Me(
        key=KeyInfo(prefix=key.prefix, scopes=sorted(key.scopes), tier=key.tier, expires_at=expires,
                    limits=tiers.get(key.tier, tiers[current_app.config["RATELIMIT_DEFAULT_TIER"]])),
        user=Holder(email=key.actor.email, role=key.actor.role)), Me)
