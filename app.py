"""WSGI entry point: ``flask --app app ...``, or any WSGI server pointed at ``app:app``."""

from authserver import create_app

app = create_app()
