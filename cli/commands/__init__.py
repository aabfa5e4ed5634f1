"""Subcommands of the ``techmatch`` CLI, one module each."""
