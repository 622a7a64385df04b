from django.apps import AppConfig


class ProbeConfig(AppConfig):
    """Test-only: loaded into worker subprocesses through ``AFTERSALES_EXTRA_APPS``."""

    name = "tests.support.probe"
    label = "probe"
    verbose_name = "Test probe"

    def ready(self) -> None:
        from tests.support.probe import handlers

        handlers.register()
