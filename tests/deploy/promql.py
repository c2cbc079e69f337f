"""PromQL shipped in deploy/: find every expression, and run a real Prometheus to check it.

Used by the deploy tests and meant for reuse by live tests that scrape a real worker:

    from tests.deploy.promql import run_prometheus, query
    with run_prometheus(["127.0.0.1:6066"], rule_files=ALERT_AND_RECORDING_RULES) as url:
        ...  # wait_for_target(url), query(url, "spoedstroom_region_escalation_level")

Nothing here skips: a missing `prometheus`/`promtool` raises :class:`ToolMissing`, which
the tests turn into a failure with the message.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_FILES: tuple[Path, ...] = (
    RULES_DIR / "spoedstroom-recording.yml",
    RULES_DIR / "spoedstroom-alerts.yml",
)
DASHBOARDS_DIR = DEPLOY / "grafana" / "dashboards"
INTERNALS = ROOT / "docs" / "internals.md"
WORKER_JOB = "spoedstroom-worker"

#: Grafana's built-in interval variables and what to put in their place.
GRAFANA_BUILTINS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "60000",
}
#: Concrete values for the dashboards' template variables (`concrete=True`).
CONCRETE_VALUES = {"region": "haaglanden", "location": "hmc-westeinde-seh", "hospital": "hmc"}

_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<sel>.+),\s*)?(?P<label>\w+)\s*\)\s*$", re.S)


class ToolMissing(RuntimeError):
    """prometheus or promtool is not installed (the tests fail on it, they never skip)."""


def binary(name: str) -> str:
    """Path of `prometheus` or `promtool`, or :class:`ToolMissing` with how to install it."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
    if not path:
        raise ToolMissing(
            f"`{name}` not found on PATH: install Debian's `prometheus` package "
            "(apt-get install prometheus; scripts/test does it) to run the deploy tests"
        )
    return path


# ---------------------------------------------------------------------------------------
# Finding the expressions


def substitute(expr: str, concrete: bool = False) -> str:
    """Replace Grafana variables: built-in intervals by durations, template variables by
    the regex `.+` (or, with `concrete`, a real value of the example region)."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        if concrete and name in CONCRETE_VALUES:
            return CONCRETE_VALUES[name]
        return ".+"

    return _VAR.sub(repl, expr)


def label_values_selector(query: str) -> str | None:
    """The PromQL selector inside Grafana's `label_values(selector, label)`, or None."""
    m = _LABEL_VALUES.match(query)
    if not m:
        return None
    return m.group("sel") or "up"


def load_rule_groups(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(data.get("groups") or [])


def rule_expressions(paths: Sequence[Path] = RULE_FILES) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        for group in load_rule_groups(path):
            for rule in group.get("rules") or []:
                name = rule.get("alert") or rule.get("record")
                out.append((f"{path.relative_to(ROOT)}:{group['name']}:{name}", str(rule["expr"])))
    return out


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def dashboard_expressions(concrete: bool = False) -> list[tuple[str, str]]:
    out = []
    for path in dashboard_files():
        dash = json.loads(path.read_text(encoding="utf-8"))
        for panel in _panels(dash.get("panels") or []):
            for target in panel.get("targets") or []:
                if target.get("expr"):
                    origin = f"{path.name}:{panel.get('title')}:{target.get('refId')}"
                    out.append((origin, substitute(target["expr"], concrete)))
        for var in (dash.get("templating") or {}).get("list") or []:
            if var.get("type") != "query":
                continue
            q = var.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            sel = label_values_selector(q or "")
            if sel is None:
                raise ValueError(f"{path.name}: variable {var.get('name')}: not label_values(): {q!r}")
            out.append((f"{path.name}:variable {var.get('name')}", substitute(sel, concrete)))
    return out


def all_expressions(concrete: bool = False) -> list[tuple[str, str]]:
    """Every PromQL expression shipped in deploy/ as (origin, expr): recording and
    alerting rules, dashboard targets and the selectors of the dashboards' variables,
    with the template variables substituted."""
    return rule_expressions() + dashboard_expressions(concrete)


# ---------------------------------------------------------------------------------------
# Metric names


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(\s*\()?")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
             "or", "unless", "offset", "inf", "nan", "atan2", "e", "m", "s", "h", "d", "w", "y"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords and labels out)."""
    s = _STRING.sub('""', expr)
    s = _BRACES.sub("", s)
    s = _GROUPING.sub("", s)
    s = _RANGE.sub("", s)
    s = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?([smhdwy]|ms)?\b", " ", s)
    names = set()
    for m in _IDENT.finditer(s):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def exported_metrics(internals: Path = INTERNALS) -> set[str]:
    """Metric names the worker exports according to docs/internals.md: the domain gauges
    `spoedstroom_{scope}_{field}` of the snapshot fields, `spoedstroom_location_on_stop`,
    and every `spoedstroom_*` name the page spells out."""
    text = internals.read_text(encoding="utf-8")
    names = set(re.findall(r"\bspoedstroom_[a-z0-9_]+\b", text))
    names.discard("spoedstroom_")
    section = text.split("## Snapshot fields", 1)[1].split("\n## ", 1)[0]
    bullets = re.split(r"\n- ", section)
    fields: dict[str, set[str]] = {"location": set(), "hospital": set(), "region": set()}
    for bullet in bullets:
        scope = bullet.strip().split(" ", 1)[0].rstrip(":")
        if scope not in fields:
            continue
        previous: list[str] = []
        for group in re.findall(r"`([^`]+)`", bullet):
            tokens = group.split()
            for tok in tokens:
                if tok.startswith("*_"):
                    fields[scope].update(p + tok[1:] for p in previous)
                elif re.fullmatch(r"[a-z][a-z0-9_]*", tok):
                    fields[scope].add(tok)
            previous = [t for t in tokens if re.fullmatch(r"[a-z][a-z0-9_]*", t)]
        if scope == "region" and "hospital sums" in bullet:
            fields["region"] |= {f for f in fields["hospital"]}
    # Strings, not gauges: identities, the status (exported as on_stop) and its time.
    strings = {"hospital", "kind", "bed_type", "status", "status_since", "nedocs_null_reason",
               "scope", "id", "as_of"}
    for scope, fs in fields.items():
        names |= {f"spoedstroom_{scope}_{f}" for f in fs - strings}
    names.add("spoedstroom_location_on_stop")
    return names


def unknown_metrics(names: set[str], known: set[str]) -> set[str]:
    """Names neither exported (allowing `_bucket/_count/_sum` of histograms), nor the
    standard `up`, nor a recording rule (a name with a colon defined in deploy/)."""
    recorded = {r.get("record") for p in RULE_FILES for g in load_rule_groups(p)
                for r in g.get("rules") or [] if r.get("record")}
    bad = set()
    for n in names:
        if n == "up" or n in known or n in recorded:
            continue
        base = re.sub(r"_(bucket|count|sum)$", "", n)
        if base in known and base.endswith("_seconds"):
            continue
        bad.add(n)
    return bad


# ---------------------------------------------------------------------------------------
# A real Prometheus


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextmanager
def run_prometheus(
    scrape_targets: Sequence[str] = (),
    rule_files: Sequence[Path | str] = (),
    *,
    job: str = WORKER_JOB,
    scrape_interval: str = "1s",
    metrics_path: str = "/metrics",
    startup_timeout: float = 30.0,
) -> Iterator[str]:
    """Start `/usr/bin/prometheus` on a free loopback port with a temporary config and
    storage; yield its base URL (http://127.0.0.1:PORT); stop it on exit.

    `scrape_targets` are host:port of workers (job `spoedstroom-worker`, as in
    deploy/prometheus/prometheus.yml); `rule_files` are loaded as given (absolute paths).
    """
    exe = binary("prometheus")
    with tempfile.TemporaryDirectory(prefix="spoedstroom-prom-") as tmp:
        config: dict[str, Any] = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "rule_files": [str(Path(p).resolve()) for p in rule_files],
            "scrape_configs": [],
        }
        if scrape_targets:
            config["scrape_configs"].append({
                "job_name": job,
                "metrics_path": metrics_path,
                "static_configs": [{"targets": list(scrape_targets)}],
            })
        cfg = Path(tmp) / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(Path(tmp) / "prometheus.log", "wb")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(
            [exe, f"--config.file={cfg}", f"--storage.tsdb.path={Path(tmp) / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if proc.poll() is not None:
                    log.flush()
                    raise RuntimeError(
                        f"prometheus exited with {proc.returncode}: "
                        + (Path(tmp) / "prometheus.log").read_text(errors="replace")[-2000:]
                    )
                try:
                    status, _ = _get(f"{base}/-/ready", timeout=1)
                    if status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"prometheus not ready on {base} after {startup_timeout}s")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def query(base_url: str, expr: str) -> dict[str, Any]:
    """GET /api/v1/query; the decoded JSON answer (status success or error)."""
    url = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    _, body = _get(url, timeout=10)
    return json.loads(body)


def wait_for_target(base_url: str, job: str = WORKER_JOB, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Wait until every target of `job` has been scraped up; return the active targets."""
    deadline = time.monotonic() + timeout
    while True:
        _, body = _get(f"{base_url}/api/v1/targets", timeout=5)
        targets = [t for t in json.loads(body)["data"]["activeTargets"] if t["labels"].get("job") == job]
        if targets and all(t["health"] == "up" for t in targets):
            return targets
        if time.monotonic() > deadline:
            raise TimeoutError(f"targets of {job} not up: {targets}")
        time.sleep(0.5)


#: A threshold condition's comparison (`X >= 4`, `time() - X > 15 * 60`): cut off, what
#: remains is the measured side, which must have data even when the condition is false.
THRESHOLD = re.compile(r"\s*(?:>=|<=|==|!=|>|<)\s*[\d.]+(?:\s*\*\s*[\d.]+)?")

#: Expressions on the nation's gauges: only a deployment of several regions has them
#: (tests/streams/test_nation.py checks them; a single region's scenario cannot).
NATION_METRIC = "spoedstroom_nation_"


def has_data(base_url: str, *candidates: str) -> bool:
    """Whether one of the expressions, or the measured side of one, returns data."""
    exprs = [*candidates, *(THRESHOLD.sub("", c) for c in candidates)]
    return any(query(base_url, e).get("data", {}).get("result") for e in exprs)
