"""Who may do what with applications and grants: pure predicates."""

from __future__ import annotations

from portal.auth import Actor


def can_apply(actor: Actor) -> bool:
    """Any signed-in person may apply; a key must carry `sandbox:run` (applying is the first step
    of analysing conditional data, which that scope is for)."""
    return not actor.is_anonymous and actor.has_scope("sandbox:run")


def can_review_applications(actor: Actor) -> bool:
    """Stewards (and admins) decide applications, see every one and revoke grants; keys never do:
    decisions are made on the pages."""
    return actor.at_least("steward") and actor.scopes is None


def can_view_application(actor: Actor, owner_id: int) -> bool:
    """The applicant and the reviewers; nobody else learns an application exists."""
    return (actor.user_id is not None and actor.user_id == owner_id and actor.has_scope("sandbox:run")) \
        or can_review_applications(actor)
