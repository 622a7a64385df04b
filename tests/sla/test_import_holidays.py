"""``aftersales import_holidays``: load a year from a JSON file, refuse gaps, report coverage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from aftersales.accounts.models import User
from aftersales.outbox.models import OutboxEvent
from aftersales.sla.models import HolidaySet, HolidaySetDay
from tests.sla.conftest import sla_state


def test_a_year_from_a_file_extends_the_coverage(
    admin_user: User, china: HolidaySet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    schedule = tmp_path / "2027.json"
    schedule.write_text(
        json.dumps(
            {
                "year": 2027,
                "days": [
                    {"date": "2027-10-01", "kind": "holiday", "name": "国庆节"},
                    {"date": "2027-10-09", "kind": "workday", "name": "国庆节"},
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    # when
    call_command("import_holidays", "--as", admin_user.username, "--file", str(schedule))
    # then
    china.refresh_from_db()
    assert (china.last_year, china.source) == (2027, "file 2027.json")
    assert list(
        HolidaySetDay.objects.filter(holiday_set=china, date__year=2027).values_list(
            "kind", flat=True
        )
    ) == ["holiday", "workday"]
    assert capsys.readouterr().out == "cn 2027: 2 days loaded.\ncn covers 2004-2027.\n"
    assert OutboxEvent.objects.filter(topic="holiday_set.changed").count() == 1


def test_reloading_a_known_year_from_the_package_keeps_the_coverage(
    admin_user: User, china: HolidaySet, capsys: pytest.CaptureFixture[str]
) -> None:
    # when
    call_command("import_holidays", "--as", admin_user.username, "--year", "2026")
    # then
    china.refresh_from_db()
    assert (china.first_year, china.last_year, china.source) == (2004, 2026, "chinese-calendar")
    assert HolidaySetDay.objects.filter(holiday_set=china, date__year=2026).count() == 39
    assert capsys.readouterr().out == "cn 2026: 39 days loaded.\ncn covers 2004-2026.\n"


def test_a_year_the_package_does_not_know_is_refused_and_nothing_changes(
    admin_user: User, china: HolidaySet
) -> None:
    before = sla_state()

    with pytest.raises(CommandError, match=r"chinese-calendar does not know \[2027\]"):
        call_command("import_holidays", "--as", admin_user.username, "--year", "2027")

    assert sla_state() == before
