"""The `spoedstroom` command. Each group of subcommands lives in its own module under
`streams/commands/` and registers itself here."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="spoedstroom",
    help="Spoedstroom: the streaming backbone of a regional acute-care network.",
    no_args_is_help=True,
    add_completion=False,
)

# Modules that define `register(app: typer.Typer) -> None`.
COMMAND_MODULES = (
    "streams.commands.dev",
    "streams.commands.validate",
    "streams.commands.simulate",
    "streams.commands.replay",
    "streams.commands.backtest",
    "streams.commands.pipeline",
    "streams.commands.bench",
    "streams.commands.convert",
    "streams.commands.gateway",
)

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a command group not built yet
        if exc.name != _name:
            raise
        continue
    _module.register(app)


def main() -> None:
    app()
