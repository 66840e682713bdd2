"""For gunicorn and any WSGI server: `gunicorn wsgi:app`."""

from wxbot import create_app

app = create_app()
