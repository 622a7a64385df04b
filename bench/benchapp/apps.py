from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "bench.benchapp"
    label = "benchapp"
    verbose_name = "Benchmarks"

    def ready(self) -> None:
        from aftersales.outbox import registry
        from bench.benchapp import handlers

        registry.register_subscriber("bench.mark_seen", ("bench.*",), handlers.mark_seen)
