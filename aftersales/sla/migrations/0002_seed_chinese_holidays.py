"""Seed the Chinese holiday set from chinese-calendar for the years it knows.

Safe to rerun: the set is found by key and only missing days are added. Reverse removes the
set if no calendar follows it yet.
"""

from django.db import migrations

KEY = "cn"


def seed(apps, schema_editor):
    import chinese_calendar

    HolidaySet = apps.get_model("sla", "HolidaySet")
    HolidaySetDay = apps.get_model("sla", "HolidaySetDay")
    entries = [(day, "holiday", name) for day, name in chinese_calendar.holidays.items()]
    entries += [(day, "workday", name) for day, name in chinese_calendar.workdays.items()]
    years = sorted({day.year for day, _kind, _name in entries})
    holiday_set, _created = HolidaySet.objects.get_or_create(
        key=KEY,
        defaults={
            "name": "中国法定节假日 / China public holidays",
            "first_year": years[0],
            "last_year": years[-1],
            "source": "chinese-calendar %s" % getattr(chinese_calendar, "__version__", ""),
        },
    )
    known = set(HolidaySetDay.objects.filter(holiday_set=holiday_set).values_list("date", flat=True))
    HolidaySetDay.objects.bulk_create(
        [
            HolidaySetDay(holiday_set=holiday_set, date=day, kind=kind, name=str(name))
            for day, kind, name in sorted(entries)
            if day not in known
        ],
        batch_size=500,
    )


def unseed(apps, schema_editor):
    HolidaySet = apps.get_model("sla", "HolidaySet")
    Calendar = apps.get_model("sla", "Calendar")
    if not Calendar.objects.filter(holiday_set__key=KEY).exists():
        HolidaySet.objects.filter(key=KEY).delete()


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_add_calendars")]

    operations = [migrations.RunPython(seed, unseed)]
