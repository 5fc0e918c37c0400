"""Who may do what with analysis runs: pure predicates."""

from __future__ import annotations

from portal.auth import Actor


def can_read_audit(actor: Actor) -> bool:
    """Stewards and admins read every run's audit record (plans included); nobody else does,
    since plans name the filters other analysts used."""
    return actor.at_least("steward")
