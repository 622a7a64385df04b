"""Run the time-based automations now (what the workers' scheduler does every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from aftersales.automation import timed


class Command(BaseCommand):
    help = "Run every active time-based automation once and print how many tickets each acted on."

    def handle(self, *args: Any, **options: Any) -> None:
        fired = timed.sweep_all()
        for automation_id, count in fired.items():
            self.stdout.write(f"automation {automation_id}: {count}")
