"""Subcommands of the `spoedstroom` CLI, one module per group."""
