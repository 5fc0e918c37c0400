"""JSON routes of the accounts domain on API v1: who the calling key is, and its limits."""

from __future__ import annotations

from flask import current_app, jsonify

from portal.accounts.keyauth import KeyRequired, current_key
from portal.api import bp


@bp.get("/me")
def me():
    """The calling API key: its owner, scopes, tier, limits and expiry."""
    key = current_key()
    if key is None:
        raise KeyRequired("send an API key (Authorization: Bearer <key>) to see who it belongs to",
                          headers={"WWW-Authenticate": 'Bearer realm="kaifang"'})
    tiers = current_app.extensions["kaifang.tiers"]
    return jsonify({
        "key": {"prefix": key.prefix, "scopes": sorted(key.scopes), "tier": key.tier,
                "limits": tiers.get(key.tier, tiers[current_app.config["RATELIMIT_DEFAULT_TIER"]]),
                "expires_at": key.expires_at.isoformat() + "Z" if key.expires_at else None},
        "user": {"email": key.actor.email, "role": key.actor.role},
    })
