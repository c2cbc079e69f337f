"""The domain core compiled with mypyc (topics/compiled.py) gives what its sources give,
byte for byte.

This test process runs the sources (the unit tests' fault injection patches functions,
which compiled callers would not see); a child process with SPOEDSTROOM_CORE=compiled
replays the same input, and the digests of every output record must be equal. The
install builds the compiled core (scripts/bootstrap.sh): missing or older than the
sources, the child fails and says what to run."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import orjson

from processors.replay import run_replay
from streams.bench_core import national_day
from streams.settings import ROOT
from topics import compiled
from topics.nation import load_nation
from topics.registry import load_registry

SYNTHETIC = ROOT / "deploy/regions/nl-synthetic.yaml"  # one region of 80 SEHs
NATION = ROOT / "deploy/regions/nl"  # the example nation: 11 regions and the nation's snapshot


def replay_digest(lines_path: str, registry_path: str) -> str:
    """sha256 over every record `replay` yields (snapshots, alerts, dead letters), in order."""
    path = Path(registry_path)
    registry = load_nation(path) if path.is_dir() else load_registry(path)
    lines = Path(lines_path).read_bytes().splitlines()
    digest = hashlib.sha256()
    for record in run_replay(lines, registry):
        digest.update(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def _compiled_digest(lines_path: Path, registry_path: Path) -> str:
    probe = ("import sys; from tests.processors.test_compiled_core import replay_digest; "
             "from topics import compiled; "
             "print(compiled.active(), replay_digest(sys.argv[1], sys.argv[2]))")
    env = {**os.environ, compiled.SETTING: "compiled"}
    done = subprocess.run([sys.executable, "-c", probe, str(lines_path), str(registry_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    active, digest = done.stdout.split()
    assert active == "compiled", "the child ran the sources, not the compiled core"
    return digest


def test_this_process_runs_the_sources() -> None:
    assert compiled.active() == "source"


def test_the_compiled_core_replays_a_region_as_its_sources_do(tmp_path: Path) -> None:
    lines = national_day(load_registry(SYNTHETIC), hours=4, seed=3)
    (tmp_path / "day.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    assert _compiled_digest(tmp_path / "day.ndjson", SYNTHETIC) == replay_digest(str(tmp_path / "day.ndjson"),
                                                                                  str(SYNTHETIC))


def test_the_compiled_core_replays_the_nation_as_its_sources_do(tmp_path: Path) -> None:
    lines = national_day(load_nation(NATION).combined(), hours=3, seed=4)
    (tmp_path / "nation.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    assert _compiled_digest(tmp_path / "nation.ndjson", NATION) == replay_digest(str(tmp_path / "nation.ndjson"),
                                                                                  str(NATION))
