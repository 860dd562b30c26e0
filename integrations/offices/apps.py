from django.apps import AppConfig


class OfficesConfig(AppConfig):
    name = "integrations.offices"
    label = "offices"
    verbose_name = "Offices, keys, polling and aging"
    default_auto_field = "django.db.models.BigAutoField"
