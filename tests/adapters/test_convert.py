"""`spoedstroom convert` on the shipped samples and on a file with refused messages: the
NDJSON on stdout passes `spoedstroom validate`, refusals go to stderr, the exit code says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.adapters.messages import KEY, PATIENT_FIELDS, adt
from tests.support import REGISTRY
from topics.registry import load_registry
from topics.validation import Validator
from streams.settings import ROOT

SAMPLES = ROOT / "deploy" / "samples"


def spoedstroom(*args: str, key: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOEDSTROOM_")}
    if key:
        env["SPOEDSTROOM_PSEUDONYM_KEY"] = KEY.decode()
    return subprocess.run([sys.executable, "-c", "from streams.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=60, cwd=cwd)


def test_samples_convert_and_validate(tmp_path: Path) -> None:
    hl7 = spoedstroom("convert", "hl7", str(SAMPLES / "hmc-adt-export.hl7"), "--partner", "hmc", "--registry", REGISTRY)
    fhir = spoedstroom("convert", "fhir", str(SAMPLES / "hmc-fhir-bundle.json"), "--partner", "hmc", "--registry", REGISTRY)
    assert hl7.returncode == 0 and fhir.returncode == 0, hl7.stderr + fhir.stderr
    assert "5 mapped, 1 ignored (no event), 0 refused; 5 events" in hl7.stderr
    lines = (hl7.stdout + fhir.stdout).splitlines()
    validator = Validator(load_registry(REGISTRY))
    types = [validator.decode(line).type for line in lines]
    assert types == ["seh.arrived", "seh.arrived", "ward.admitted", "seh.departed", "ward.discharged",
                     "seh.arrived", "ward.admitted", "ward.discharged", "capacity.reported"]
    feed = tmp_path / "hmc.ndjson"
    feed.write_text(hl7.stdout + fhir.stdout)
    res = spoedstroom("validate", str(feed), "--registry", REGISTRY)
    assert res.returncode == 0 and "all 9 lines valid" in res.stdout, res.stdout
    for value in PATIENT_FIELDS:
        assert value not in hl7.stdout + fhir.stdout + hl7.stderr + fhir.stderr


def test_refused_messages_are_reported_and_the_exit_code_is_1(tmp_path: Path) -> None:
    export = tmp_path / "export.hl7"
    export.write_text(adt("A04", control="A") + adt("A04", visit=None, control="B")
                      + adt("A04", location="NOWHERE", control="C") + adt("A03", control="D"))
    res = spoedstroom("convert", "hl7", str(export), "--partner", "hmc", "--registry", REGISTRY)
    assert res.returncode == 1
    assert [orjson.loads(line)["type"] for line in res.stdout.splitlines()] == [
        "nl.acutezorg.seh.arrived.v1", "nl.acutezorg.seh.departed.v1"]
    assert "message 2 (A04): refused: missing_visit_number" in res.stderr
    assert "message 3 (A04): refused: unmapped_location" in res.stderr
    assert "2 mapped, 0 ignored (no event), 2 refused" in res.stderr
    for value in PATIENT_FIELDS:
        assert value not in res.stdout + res.stderr


def test_convert_needs_the_key_and_the_right_partner(tmp_path: Path) -> None:
    sample = str(SAMPLES / "hmc-adt-export.hl7")
    res = spoedstroom("convert", "hl7", sample, "--partner", "hmc", "--registry", REGISTRY, key=False)
    assert res.returncode == 2 and "no pseudonymisation key" in res.stderr
    res = spoedstroom("convert", "hl7", sample, "--partner", "haga", "--registry", REGISTRY)
    assert res.returncode == 1 and "wrong_sending_facility" in res.stderr and res.stdout == ""
    assert spoedstroom("convert", "hl7", sample, "--partner", "nobody", "--registry", REGISTRY).returncode == 2


def test_convert_takes_a_nation(tmp_path: Path) -> None:
    """`--registry` (and SPOEDSTROOM_REGISTRY) may name the nation, as for the worker: a
    national deployment's gateway and convert read the same setting."""
    export = tmp_path / "bra1.hl7"
    export.write_text(adt("A04", facility="BRA1-HMC", location="SEH"))
    res = spoedstroom("convert", "hl7", str(export), "--partner", "bra1-hmc", "--registry",
                      str(ROOT / "deploy" / "regions" / "nl"))
    assert res.returncode == 0, res.stderr
    (event,) = [orjson.loads(line) for line in res.stdout.splitlines()]
    assert event["source"] == "/partners/bra1-hmc" and event["data"]["location"] == "bra1-hmc-westeinde-seh"


def test_convert_fhir_takes_ndjson_as_bulk_data_exports_write_it(tmp_path: Path) -> None:
    """One resource per line gives what the same resources in a Bundle give; a line that
    is not JSON is refused on its own and the others are mapped. (A Bundle's entries of
    other types, its Patient here, are left alone; a line of one is refused like a file
    of one: Bulk Data writes a file per type.)"""
    bundle = orjson.loads((SAMPLES / "hmc-fhir-bundle.json").read_bytes())
    resources = [entry["resource"] for entry in bundle["entry"]
                 if entry["resource"]["resourceType"] in ("Encounter", "MeasureReport")]
    export = tmp_path / "export.ndjson"
    export.write_bytes(b"\n".join(orjson.dumps(r) for r in resources) + b"\n")
    as_bundle = spoedstroom("convert", "fhir", str(SAMPLES / "hmc-fhir-bundle.json"), "--partner", "hmc", "--registry", REGISTRY)
    as_lines = spoedstroom("convert", "fhir", str(export), "--partner", "hmc", "--registry", REGISTRY)
    assert as_lines.returncode == 0, as_lines.stderr
    assert as_lines.stdout == as_bundle.stdout and as_lines.stdout.count("\n") == 4
    export.write_bytes(orjson.dumps(resources[0]) + b"\n{not json\n" + orjson.dumps(resources[-1]) + b"\n")
    res = spoedstroom("convert", "fhir", str(export), "--partner", "hmc", "--registry", REGISTRY)
    assert res.returncode == 1 and "message 2 (unknown): refused: unparseable" in res.stderr, res.stderr
    assert "2 mapped, 0 ignored (no event), 1 refused" in res.stderr, res.stderr
