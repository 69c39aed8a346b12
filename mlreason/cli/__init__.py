"""Typer CLI: one module per command; each parses options and calls the library's run()."""
