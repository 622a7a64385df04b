"""``aftersales worker``: run background tasks and the periodic scheduler."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersales.core import worker


class Command(BaseCommand):
    help = "Run a background worker (tasks + periodic scheduler). Several may run at once."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--interval", type=float, default=0.5, help="Seconds to wait when the queue is empty."
        )
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="Only run tasks; leave periodic jobs to other workers.",
        )
        parser.add_argument(
            "--max-tasks", type=int, default=None, help="Exit after running this many tasks."
        )
        parser.add_argument("--batch", action="store_true", help="Exit once the queue is empty.")
        parser.add_argument("--id", default=None, help="Worker id shown in task results.")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        if settings.TASKS["default"]["BACKEND"] != "django_tasks_db.DatabaseBackend":
            raise CommandError("The worker needs TASK_BACKEND=database.")
        identity = options["id"] or worker.worker_id()
        task_worker = worker.make_task_worker(
            interval=options["interval"],
            identity=identity,
            max_tasks=options["max_tasks"],
            batch=options["batch"],
        )
        scheduler = None
        if options["batch"] and not options["no_scheduler"]:
            # One tick, then drain: a cron-driven `worker --batch` still fires the periodic jobs
            # that are due, and the queue it drains is not refilled behind its back.
            worker.tick_once(identity)
        elif not options["no_scheduler"]:
            scheduler = worker.SchedulerThread(identity)
            scheduler.start()
        self.stdout.write(f"Worker {identity} started.")
        task_worker.configure_signals()
        try:
            task_worker.run()
        finally:
            if scheduler is not None:
                scheduler.stop()
