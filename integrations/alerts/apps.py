from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "integrations.alerts"
    label = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from integrations.alerts import signals  # noqa: F401 - connects the worker heartbeat
