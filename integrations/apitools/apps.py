from django.apps import AppConfig


class ApiToolsConfig(AppConfig):
    name = "integrations.apitools"
    label = "apitools"
    verbose_name = "API console and API Events inbox"
    default_auto_field = "django.db.models.BigAutoField"
