"""`spoedstroom gateway`: the partner gateway service (HL7 v2 over MLLP, FHIR R4 over
HTTP -> the input topics), configured from the environment (`streams.settings`)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Optional

import typer

from topics.nation import load_nation
from topics.registry import RegistryError


def gateway(
    registry: Optional[str] = typer.Option(None, "--registry", "-r", help="Region registry file, national file or directory (default: SPOEDSTROOM_REGISTRY)."),
    loglevel: str = typer.Option("info", "--loglevel", "-l", help="debug, info, warning or error."),
    tokens_file: Optional[str] = typer.Option(
        None, "--tokens-file", help="Secret file of `partner=token` lines (default: SPOEDSTROOM_GATEWAY_TOKENS_FILE)."),
    pseudonym_key_file: Optional[str] = typer.Option(
        None, "--pseudonym-key-file", help="Secret file with the pseudonymisation key (default: SPOEDSTROOM_PSEUDONYM_KEY_FILE)."),
) -> None:
    """Run the partner gateway: MLLP listener and FHIR endpoint, events to Kafka."""
    from adapters.gateway import GatewayConfigError, serve
    from streams.settings import Settings

    logging.basicConfig(level=loglevel.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env(registry=registry, gateway_tokens_file=tokens_file,
                                     pseudonym_key_file=pseudonym_key_file)
        reg = load_nation(settings.registry).combined()  # a region file, a national file or a directory
    except (RegistryError, ValueError) as exc:
        typer.echo(f"spoedstroom gateway: refusing to start: {exc}", err=True)
        raise typer.Exit(2) from None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, reg, stop)

    try:
        asyncio.run(main())
    except GatewayConfigError as exc:
        typer.echo(f"spoedstroom gateway: refusing to start: {exc}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add the `gateway` command to the CLI."""
    app.command("gateway")(gateway)
