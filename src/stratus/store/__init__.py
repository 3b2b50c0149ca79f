"""Where state lives: the metadata store (SQLite by default) and the content-addressed blob store."""
