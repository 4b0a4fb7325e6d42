"""Store stage: the SQL database that is the source of truth (schema, migrations, queries)."""
