"""Give the open tickets the SLA clocks of the policies that now match them (what the worker
does after a policy is saved), in bounded batches that can be resumed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from aftersales.sla import backfill


class Command(BaseCommand):
    help = (
        "Give open tickets their SLA clocks after policies were created or changed. Walks the "
        "open tickets in batches; an interrupted run continues where it stopped (a finished "
        "one starts again; --restart forces that)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=backfill.BATCH)
        parser.add_argument(
            "--max-batches", type=int, default=None, help="Stop after this many batches."
        )
        parser.add_argument(
            "--restart", action="store_true", help="Start again from the first ticket."
        )
        parser.add_argument(
            "--key", default="command", help="Name of the run to continue (default: command)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            self.stderr.write("--batch-size must be at least 1")
            raise SystemExit(2)
        progress = backfill.run(
            key=options["key"],
            batch_size=options["batch_size"],
            max_batches=options["max_batches"],
            # A finished run is done: running the command again starts a new walk.
            restart=options["restart"] or backfill.is_finished(options["key"]),
        )
        self.stdout.write(f"sla backfill tickets seen: {progress.tickets_seen}")
        self.stdout.write(f"sla backfill tickets changed: {progress.tickets_changed}")
        self.stdout.write(f"sla backfill finished: {'yes' if progress.finished else 'no'}")
