"""odportal: a self-hosted dashboard for Open Dental API integrators."""

from odportal.celery import app as celery_app

__all__ = ["celery_app"]
