from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "integrations.accounts"
    label = "accounts"
    verbose_name = "Developer accounts and teams"
    default_auto_field = "django.db.models.BigAutoField"
