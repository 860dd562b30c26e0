from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """The demo and the benchmarks: installed only when DEBUG or ODPORTAL_DEVTOOLS=1."""

    name = "integrations.devtools"
    label = "devtools"
    verbose_name = "Demo and benchmarks"
