"""Full-text structures the ORM cannot describe, per database vendor.

SQLite: two FTS5 tables keyed by SearchEntry.id (words, and raw text with the trigram
tokenizer). PostgreSQL: pg_trgm, a generated weighted tsvector of the stored terms (title A,
initials A, tags B, body C) with a GIN index, and trigram GIN indexes on the raw text.
"""

from django.db import migrations

SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_fts_words USING fts5("
    "title, tags, body, initials, tokenize = 'unicode61 remove_diacritics 0')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_fts_raw USING fts5("
    "title, body, tokenize = 'trigram')",
]
SQLITE_DROP = ["DROP TABLE IF EXISTS knowledge_fts_words", "DROP TABLE IF EXISTS knowledge_fts_raw"]


def _terms(column: str, weight: str, prefix: str = "") -> str:
    source = column if not prefix else f"regexp_replace({column}, '(^|\\s)(\\S)', '\\1{prefix}\\2', 'g')"
    return (
        f"setweight(array_to_tsvector(array_remove(string_to_array({source}, ' '), '')), '{weight}')"
    )


POSTGRES_CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "ALTER TABLE knowledge_searchentry ADD COLUMN IF NOT EXISTS document tsvector "
    "GENERATED ALWAYS AS ("
    + " || ".join(
        [
            _terms("title_terms", "A"),
            _terms("initials", "A", "py:"),
            _terms("tag_terms", "B"),
            _terms("body_terms", "C"),
        ]
    )
    + ") STORED",
    "CREATE INDEX IF NOT EXISTS knowledge_entry_document ON knowledge_searchentry "
    "USING gin (document)",
    "CREATE INDEX IF NOT EXISTS knowledge_entry_title_trgm ON knowledge_searchentry "
    "USING gin (title_raw gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS knowledge_entry_body_trgm ON knowledge_searchentry "
    "USING gin (body_raw gin_trgm_ops)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS knowledge_entry_body_trgm",
    "DROP INDEX IF EXISTS knowledge_entry_title_trgm",
    "DROP INDEX IF EXISTS knowledge_entry_document",
    "ALTER TABLE knowledge_searchentry DROP COLUMN IF EXISTS document",
]


def _run(statements: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_add_articles")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_CREATE, "postgresql": POSTGRES_CREATE}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        )
    ]
