"""``aftersales run``: everything on one machine — migrate, demo data, web and worker."""

from __future__ import annotations

import logging
import os
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from aftersales.core import demo, worker

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Migrate, load demo data on first run, and serve the web app with an in-process worker."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="Do not load demo data.")
        parser.add_argument("--threads", type=int, default=8)

    def handle(self, *args: Any, **options: Any) -> None:
        import waitress

        if settings.TASKS["default"]["BACKEND"] != "django_tasks_db.DatabaseBackend":
            raise CommandError("'aftersales run' needs TASK_BACKEND=database.")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is up to date.")
        logins = demo.saved_logins()
        if not options["no_demo"] and not demo.has_demo():
            logins = demo.load_demo()
            self.stdout.write("Demo data loaded.")
        identity = worker.worker_id("-embedded")
        task_thread = worker.TaskThread(identity)
        scheduler = worker.SchedulerThread(identity)
        task_thread.start()
        scheduler.start()
        host, port = options["host"], options["port"]
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104
        message = [
            "",
            f"Aftersales is running: http://{shown_host}:{port}/",
            f"Customer portal: http://{shown_host}:{port}/portal/",
            f"API docs: http://{shown_host}:{port}/api/v1/docs",
        ]
        if logins:
            message += ["Demo logins:", demo.format_logins(logins)]
        message += [f"Data folder: {settings.DATA_DIR}", "Press Ctrl+C to stop.", ""]
        self.stdout.write("\n".join(message))
        self.stdout.flush()
        try:
            from aftersales.wsgi import application

            waitress.serve(
                application,
                host=host,
                port=port,
                threads=options["threads"],
                ident="aftersales",
                _quiet=True,
            )
        finally:
            task_thread.stop()
            scheduler.stop()
