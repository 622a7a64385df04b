"""``aftersales demo``: load the demo organisation and print its logins."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersales.core import demo


class Command(BaseCommand):
    help = "Load the demo data (a business line, teams, one person per role) and print logins."

    def handle(self, *args: Any, **options: Any) -> None:
        if demo.has_demo():
            raise CommandError(
                f"The demo data is already loaded; its logins are in {demo.logins_file()}."
            )
        logins = demo.load_demo()
        self.stdout.write("Demo data loaded. Logins:\n" + demo.format_logins(logins))
