"""Store: the database schema, migrations and queries, shared by the CLI and the server."""
