"""WSGI entry point for gunicorn: `gunicorn -w 4 -k gthread --threads 4 wsgi:app`."""

from portal import create_app
from portal.accounts.service import dummy_hash

app = create_app()
dummy_hash()  # the sign-in timing guard's hash, made before the first request
