"""Who may do what with analysis sessions: pure predicates."""

from __future__ import annotations

from portal.auth import Actor


def can_use_sessions(actor: Actor) -> bool:
    """Any signed-in person (what they may analyse is the grants' business); a key must carry
    `sandbox:run`. A session and its runs are then visible to their owner only, whatever the role."""
    return not actor.is_anonymous and actor.has_scope("sandbox:run")


def can_view_queue(actor: Actor) -> bool:
    """Stewards (and admins) watch the run queue, on the pages only (never with a key)."""
    return actor.at_least("steward") and actor.scopes is None
