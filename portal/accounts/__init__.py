"""Users, roles, sign-in (and, later, API keys)."""
