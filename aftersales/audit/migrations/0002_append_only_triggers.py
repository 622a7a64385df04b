"""Refuse UPDATE and DELETE on the audit log at the database level (SQLite and PostgreSQL)."""

from django.db import migrations

TABLE = "audit_auditentry"


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_no_{operation.lower()} "
                f"BEFORE {operation} ON {TABLE} "
                "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;"
            )
    elif vendor == "postgresql":
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit entries are append-only'; END; $$ LANGUAGE plpgsql;"
        )
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE}; "
            f"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
        )
        # TRUNCATE bypasses row triggers; refuse it too.
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS audit_no_truncate ON {TABLE}; "
            f"CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();"
        )


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_no_update;")
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_no_delete;")
    elif vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE};")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS audit_no_truncate ON {TABLE};")
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
