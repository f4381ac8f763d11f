"""The SQLite store (one site, the default)."""
