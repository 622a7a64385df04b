"""``aftersales import_holidays --as USERNAME``: load holiday schedules into a holiday set.

Without ``--file`` it loads the years chinese-calendar knows that the set does not cover yet
(``--year`` picks years, also to reload one). With ``--file`` it loads a JSON document
``{"year": 2027, "days": [{"date": "2027-01-01", "kind": "holiday", "name": "…"}, …]}``
transcribed from the State Council's notice.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersales.accounts.models import User
from aftersales.core.errors import DomainError
from aftersales.sla import services
from aftersales.sla.models import HolidaySet


class Command(BaseCommand):
    help = "Load holiday schedules (holidays and make-up workdays) into a holiday set."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--as", dest="username", required=True, help="Acting administrator.")
        parser.add_argument("--set", dest="key", default="cn", help="Holiday set key (cn).")
        parser.add_argument("--year", type=int, action="append", dest="years", default=None)
        parser.add_argument("--file", type=Path, default=None, help="A JSON schedule of a year.")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = User.objects.filter(username=options["username"], is_active=True).first()
        if actor is None:
            raise CommandError(f"There is no active user named {options['username']!r}.")
        holiday_set = HolidaySet.objects.filter(key=options["key"]).first()
        if holiday_set is None:
            raise CommandError(f"There is no holiday set {options['key']!r}.")
        if options["file"] is not None:
            document = json.loads(options["file"].read_text(encoding="utf-8"))
            schedules = {int(document["year"]): document["days"]}
            source = f"file {options['file'].name}"
        else:
            known = services.package_years()
            wanted = options["years"] or [y for y in known if y > holiday_set.last_year]
            missing = [y for y in wanted if y not in known]
            if missing:
                raise CommandError(f"chinese-calendar does not know {missing}.")
            schedules = {year: known[year] for year in sorted(wanted)}
            source = "chinese-calendar"
        for year, days in schedules.items():
            try:
                holiday_set = services.publish_holiday_year(
                    actor=actor, holiday_set=holiday_set, year=year, days=days, source=source
                )
            except DomainError as error:
                raise CommandError(f"{year}: {error.field}: {error.detail()}") from error
            self.stdout.write(f"{holiday_set.key} {year}: {len(days)} days loaded.")
        self.stdout.write(
            f"{holiday_set.key} covers {holiday_set.first_year}-{holiday_set.last_year}."
        )
