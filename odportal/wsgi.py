"""WSGI entry point (gunicorn odportal.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "odportal.settings")
application = get_wsgi_application()
