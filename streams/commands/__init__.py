"""Subcommands of the `spoedstroom` CLI, one module per group."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, TypeVar

import typer

if TYPE_CHECKING:
    from streams.settings import Settings

T = TypeVar("T")

#: The longest input line read whole. A longer one is cut to this (the validator refuses
#: anything over 64 KiB as too_large) and the rest of it skipped unread, so an endless
#: line cannot fill the memory.
MAX_LINE_BYTES = 1_048_576
#: The reorder lateness a replay or backtest may be given (a day).
MAX_LATENESS_S = 86_400


def lateness_ms_or_exit(seconds: float) -> int:
    """`--lateness-seconds` in milliseconds; one line on stderr and exit code 2 unless it
    is from 0 to MAX_LATENESS_S (NaN included)."""
    if not 0 <= seconds <= MAX_LATENESS_S:
        typer.echo(f"--lateness-seconds must be from 0 to {MAX_LATENESS_S}", err=True)
        raise typer.Exit(2)
    return int(seconds * 1000)


def input_or_exit(path: Path) -> None:
    """One line on stderr and exit code 2 unless `path` is '-' (standard input) or can be
    read as a file (a pipe or a device too, not a directory)."""
    if str(path) == "-":
        return
    if not path.exists():
        typer.echo(f"{path}: no such file", err=True)
        raise typer.Exit(2)
    if path.is_dir():
        typer.echo(f"{path}: is a directory, not an NDJSON file", err=True)
        raise typer.Exit(2)


def ndjson_lines(path: Path) -> Iterator[bytes]:
    """The lines of an NDJSON file ('-': standard input), each at most MAX_LINE_BYTES."""
    if str(path) == "-":
        yield from _bounded(sys.stdin.buffer)
        return
    with path.open("rb") as f:
        yield from _bounded(f)


def _bounded(f: BinaryIO) -> Iterator[bytes]:
    while line := f.readline(MAX_LINE_BYTES):
        if len(line) == MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := f.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass  # the rest of an over-long line
        yield line


def load_or_exit(loader: Callable[[str], T], path: str | None) -> T:
    """A registry (or nation) from `path`, else SPOEDSTROOM_REGISTRY; a RegistryError is
    one line on stderr and exit code 2."""
    from topics.registry import RegistryError

    try:
        return loader(path or settings_or_exit().registry)
    except RegistryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def settings_or_exit(**overrides: object) -> Settings:
    """The settings from the environment (and `overrides`); a refused value
    (`Settings.from_env`: a bad number, clock or retention) is one line on stderr and
    exit code 2, not a traceback."""
    from streams.settings import Settings

    try:
        return Settings.from_env(**overrides)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
