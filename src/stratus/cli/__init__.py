"""The `stratus` command: a thin client of the HTTP API (and `serve`, which runs it)."""
