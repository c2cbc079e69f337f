"""`spoedstroom convert hl7|fhir FILE... --partner ID`: a partner's export -> NDJSON
CloudEvents, offline, with exactly the gateway's mapping (`adapters.hl7`, `adapters.fhir`).

What a partner runs before going live: the events go to stdout (then `spoedstroom
validate` on them), every refused message to stderr with its reason, and the exit code is
1 when any message was refused (2 when the registry, key or a file is unusable). The
pseudonymisation key comes from SPOEDSTROOM_PSEUDONYM_KEY(_FILE), as for the gateway.
"""

from __future__ import annotations

import sys
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import List, Optional

import orjson
import typer

from adapters.outcome import Mapped, Outcome, Refused
from adapters.pseudonym import PseudonymKeyError, load_key
from streams.commands import settings_or_exit
from topics.nation import load_nation
from topics.registry import RegistryError


class Format(str, Enum):
    hl7 = "hl7"
    fhir = "fhir"


#: An export is mapped in memory as a whole: a larger one is refused (split it by day).
MAX_EXPORT_BYTES = 256 * 2**20


def _outcomes(fmt: Format, data: bytes, registry, key: bytes, partner: str) -> list[Outcome]:
    # Imported here: the FHIR models take ~0.3 s to import, which every other command
    # (the worker's restart among them) would pay.
    from adapters import fhir, hl7

    if fmt is Format.hl7:
        return hl7.map_file(data, registry, key, partner)
    outcomes: list[Outcome] = []
    for resource in fhir_resources(data):
        obj = fhir.loads(resource)
        if isinstance(obj, Refused):
            outcomes.append(Refused(obj.reason, obj.detail, partner, "unknown", obj.parseable))
        else:
            outcomes.extend(fhir.map_resource(obj, registry, key, partner))
    return outcomes


def fhir_resources(data: bytes) -> list[bytes]:
    """The resources of a FHIR export: the file as one resource (an Encounter, a
    MeasureReport, a Bundle), or NDJSON, one resource per line, as FHIR Bulk Data
    exports write them (taken as such when the file is not one JSON value and its first
    line is one)."""
    lines = [line for line in data.splitlines() if line.strip()]
    if len(lines) > 1 and _is_json(lines[0]) and not _is_json(data):
        return lines
    return [data]


def _is_json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def convert(
    fmt: Format = typer.Argument(..., help="hl7 (HL7 v2 ADT messages) or fhir (an Encounter, MeasureReport or Bundle, JSON; or NDJSON, one resource per line)."),
    files: List[Path] = typer.Argument(..., help="Export files; an HL7 file may hold several messages."),
    partner: str = typer.Option(..., "--partner", "-p", help="The partner id of the registry sending these."),
    registry: Optional[str] = typer.Option(None, "--registry", "-r", help="Region registry file, national file or directory (default: SPOEDSTROOM_REGISTRY)."),
) -> None:
    """Map a partner's HL7 v2 or FHIR export to NDJSON CloudEvents on stdout."""

    settings = settings_or_exit()
    try:
        reg = load_nation(registry or settings.registry).combined()  # a region, a national file or a directory
        key = load_key(settings.pseudonym_key, settings.pseudonym_key_file)
    except (RegistryError, PseudonymKeyError) as exc:
        typer.echo(f"convert: {exc}", err=True)
        raise typer.Exit(2) from None
    if partner not in reg.partners:
        typer.echo(f"convert: partner {partner!r} is not in the registry {reg.path}", err=True)
        raise typer.Exit(2)
    out = sys.stdout.buffer
    counts: Counter[str] = Counter()
    for path in files:
        try:
            with path.open("rb") as f:
                data = f.read(MAX_EXPORT_BYTES + 1)
        except OSError as exc:
            typer.echo(f"convert: {path}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
        if len(data) > MAX_EXPORT_BYTES:
            typer.echo(f"convert: {path}: more than {MAX_EXPORT_BYTES // 2**20} MiB: split the export", err=True)
            raise typer.Exit(2)
        for number, outcome in enumerate(_outcomes(fmt, data, reg, key, partner), start=1):
            if isinstance(outcome, Mapped):
                counts["ignored" if outcome.ignored else "mapped"] += 1
                for event in outcome.events:
                    out.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
                    counts["events"] += 1
            else:
                counts["refused"] += 1
                typer.echo(f"{path}: message {number} ({outcome.trigger}): refused: "
                           f"{outcome.reason}: {outcome.detail}", err=True)
    out.flush()
    typer.echo(f"convert: {counts['mapped']} mapped, {counts['ignored']} ignored (no event), "
               f"{counts['refused']} refused; {counts['events']} events", err=True)
    if counts["refused"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the `convert` command to the CLI."""
    app.command("convert")(convert)
