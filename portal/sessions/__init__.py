"""Analysis sessions: notebooks of cells run one after another in the sandbox, over the JSON API
(`/api/v1/sessions`, key scope `sandbox:run`) and for the browser notebook (`/notebook/api/`),
through a queue so the web process never runs analyst code (docs/sessions.md)."""
