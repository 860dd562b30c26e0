"""Trigram indexes for the office list's search (PostgreSQL only; not declarable on the model).

icontains on Postgres is ``UPPER(col::text) LIKE UPPER(%s)``: these index that expression.
SQLite (development, tests) has no GIN and searches by scanning.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class PostgresOnly(migrations.operations.base.Operation):
    """Runs the wrapped operation's SQL on PostgreSQL only and leaves the model state alone."""

    reversible = True

    def __init__(self, operation):
        self.operation = operation

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self.operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self.operation.database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"{self.operation.describe()} (PostgreSQL only)"


def _trigram_index(column: str) -> migrations.RunSQL:
    # Raw SQL: GinIndex(OpClass(Upper(...))) needs django.contrib.postgres in INSTALLED_APPS.
    name = f"office_{column}_trgm"
    return migrations.RunSQL(
        f'CREATE INDEX "{name}" ON "offices_office" USING gin (UPPER("{column}") gin_trgm_ops)',
        f'DROP INDEX IF EXISTS "{name}"',
    )


class Migration(migrations.Migration):
    dependencies = [("offices", "0001_initial")]

    operations = [
        PostgresOnly(TrigramExtension()),
        PostgresOnly(_trigram_index("name")),
        PostgresOnly(_trigram_index("reference")),
    ]
