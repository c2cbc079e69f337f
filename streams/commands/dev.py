"""`spoedstroom dev up | down | status | topics`: the embedded default stack."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from streams.commands import settings_or_exit
from streams.devstack import EmbeddedStack, StackError, ensure_topics

console = Console(stderr=True, soft_wrap=True)


def register(app: typer.Typer) -> None:
    dev = typer.Typer(help="The embedded default stack (Tansu broker + Redis on loopback).", no_args_is_help=True)
    app.add_typer(dev, name="dev")

    @dev.command("up")
    def up(timeout: float = typer.Option(30.0, help="Seconds to wait for each service.")) -> None:
        """Start the broker and Redis, wait until both answer, create the topics."""
        stack = EmbeddedStack(settings_or_exit())
        try:
            info = stack.up(timeout=timeout)
        except StackError as exc:
            console.print(f"[red]spoedstroom dev up: {exc}[/red]")
            raise typer.Exit(2) from None
        console.print(f"[green]embedded stack up[/green]: broker {info['bootstrap_servers']}, "
                      f"Redis {info['redis_url']}, state in {info['state_dir']}")

    @dev.command("down")
    def down() -> None:
        """Stop the broker and Redis started by `dev up`."""
        stopped = EmbeddedStack(settings_or_exit()).down()
        console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")

    @dev.command("status")
    def status() -> None:
        """Show whether the broker and Redis run and answer."""
        info = EmbeddedStack(settings_or_exit()).status()
        table = Table("service", "pid", "port", "answers", "log")
        for name, row in info.items():
            table.add_row(name, str(row["pid"] or "-"), str(row["port"]), "yes" if row["answers"] else "no", str(row["log"]))
        Console().print(table)
        if not all(row["answers"] for row in info.values()):
            raise typer.Exit(1)

    @dev.command("topics")
    def topics() -> None:
        """Create the catalogue topics on SPOEDSTROOM_BOOTSTRAP_SERVERS (any Kafka)."""
        settings = settings_or_exit()
        created = ensure_topics(settings.bootstrap_servers, replication_factor=settings.replication_factor)
        console.print(f"created: {', '.join(created) or 'all topics existed'}")
