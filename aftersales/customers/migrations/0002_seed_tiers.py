"""Seed the two tiers every installation starts with: VIP and normal (the default)."""

from django.db import migrations

TIERS = [
    {"key": "vip", "name_zh": "VIP客户", "name_en": "VIP", "rank": 100, "is_default": False},
    {"key": "normal", "name_zh": "普通客户", "name_en": "Normal", "rank": 0, "is_default": True},
]


def seed(apps, schema_editor):
    CustomerTier = apps.get_model("customers", "CustomerTier")
    has_default = CustomerTier.objects.filter(is_default=True).exists()
    for tier in TIERS:
        defaults = dict(tier)
        if has_default:
            defaults["is_default"] = False
        CustomerTier.objects.get_or_create(key=tier["key"], defaults=defaults)


def unseed(apps, schema_editor):
    CustomerTier = apps.get_model("customers", "CustomerTier")
    CustomerTier.objects.filter(
        key__in=[t["key"] for t in TIERS], customers__isnull=True, organisations__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
