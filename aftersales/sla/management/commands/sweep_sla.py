"""Fire the SLA warnings and breaches that are due now (what the workers do every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from aftersales.sla import timers


class Command(BaseCommand):
    help = "Fire due SLA warnings and breaches once and print how many of each."

    def handle(self, *args: Any, **options: Any) -> None:
        result = timers.sweep()
        self.stdout.write(f"sla warned: {result.warned}")
        self.stdout.write(f"sla breached: {result.breached}")
