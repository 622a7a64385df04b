"""GIN indexes on the JSON columns customers are filtered by (tags, custom fields).

PostgreSQL only: SQLite has no GIN and no JSON containment, and filters there by text.
"""

from django.db import migrations

INDEXES = [
    ("customers_customer_tags_gin", "customers_customer", "tags"),
    ("customers_customer_custom_fields_gin", "customers_customer", "custom_fields"),
    ("customers_organisation_tags_gin", "customers_organisation", "tags"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} jsonb_path_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_seed_tiers")]

    operations = [migrations.RunPython(create, drop)]
