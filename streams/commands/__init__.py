"""Subcommands of the `spoedstroom` CLI, one module per group."""

from typing import Callable, TypeVar

import typer

T = TypeVar("T")


def load_or_exit(loader: Callable[[str], T], path: str | None) -> T:
    """A registry (or nation) from `path`, else SPOEDSTROOM_REGISTRY; a RegistryError is
    one line on stderr and exit code 2."""
    from streams.settings import Settings
    from topics.registry import RegistryError

    try:
        return loader(path or Settings.from_env().registry)
    except RegistryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
