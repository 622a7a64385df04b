"""PostgreSQL: a second generated tsvector, ``head``, of the title, pinyin initials and tags
only (same weights as ``document``), GIN-indexed. A query whose words are so common that the
whole-document match would rank tens of thousands of rows matches on ``head`` instead (see
``docs/adr/0006-knowledge-search-speed.md``). SQLite needs nothing: an FTS5 column filter
does the same on the existing table.
"""

from django.db import migrations


def _terms(column: str, weight: str, prefix: str = "") -> str:
    source = column if not prefix else f"regexp_replace({column}, '(^|\\s)(\\S)', '\\1{prefix}\\2', 'g')"
    return (
        f"setweight(array_to_tsvector(array_remove(string_to_array({source}, ' '), '')), '{weight}')"
    )


POSTGRES_CREATE = [
    "ALTER TABLE knowledge_searchentry ADD COLUMN IF NOT EXISTS head tsvector "
    "GENERATED ALWAYS AS ("
    + " || ".join(
        [
            _terms("title_terms", "A"),
            _terms("initials", "A", "py:"),
            _terms("tag_terms", "B"),
        ]
    )
    + ") STORED",
    "CREATE INDEX IF NOT EXISTS knowledge_entry_head ON knowledge_searchentry USING gin (head)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS knowledge_entry_head",
    "ALTER TABLE knowledge_searchentry DROP COLUMN IF EXISTS head",
]


def _run(statements: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0002_add_search_indexes")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_CREATE}),
            _run({"postgresql": POSTGRES_DROP}),
        )
    ]
