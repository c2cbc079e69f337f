"""The shipped Prometheus configuration, rules, rule tests and every PromQL expression of
deploy/ (rules and dashboards), checked with the real promtool and a real Prometheus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import promql  # noqa: E402


def _tool(name: str) -> str:
    try:
        return promql.binary(name)
    except promql.ToolMissing as exc:
        pytest.fail(str(exc))


def _run(args: list[str], cwd: Path = promql.PROMETHEUS_DIR) -> None:
    res = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"


def test_promtool_check_rules() -> None:
    _run([_tool("promtool"), "check", "rules", *map(str, promql.RULE_FILES)])


def test_promtool_check_config(tmp_path: Path) -> None:
    # The worker job reads the bearer token from the Docker secret Compose mounts at
    # /run/secrets/ (compose.yaml); promtool checks that the file exists. Check a copy
    # that points at a stand-in token file, so everything else is checked in full.
    text = (promql.PROMETHEUS_DIR / "prometheus.yml").read_text()
    secret = "/run/secrets/spoedstroom_web_token"
    assert secret in text
    (tmp_path / "token").write_text("0123456789abcdef0123456789abcdef\n")
    (tmp_path / "prometheus.yml").write_text(text.replace(secret, str(tmp_path / "token")))
    (tmp_path / "rules").symlink_to(promql.PROMETHEUS_DIR / "rules")
    _run([_tool("promtool"), "check", "config", "prometheus.yml"], cwd=tmp_path)


def test_promtool_test_rules() -> None:
    tests = sorted((promql.PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests, "no promtool unit tests in deploy/prometheus/tests"
    _run([_tool("promtool"), "test", "rules", *(t.name for t in tests)], cwd=promql.PROMETHEUS_DIR / "tests")


def test_every_alert_has_for_severity_summary_runbook_and_unit_tests() -> None:
    tested = "\n".join(p.read_text() for p in (promql.PROMETHEUS_DIR / "tests").glob("*.yml"))
    import yaml

    cases: dict[str, list[bool]] = {}
    for path in (promql.PROMETHEUS_DIR / "tests").glob("*.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test") or []:
                cases.setdefault(case["alertname"], []).append(bool(case.get("exp_alerts")))
    alerts = 0
    for group in promql.load_rule_groups(promql.RULES_DIR / "spoedstroom-alerts.yml"):
        for rule in group["rules"]:
            name = rule["alert"]
            alerts += 1
            assert rule.get("for"), f"{name}: no `for`"
            assert rule["labels"]["severity"] in ("info", "warning", "critical"), name
            assert rule["annotations"].get("summary"), f"{name}: no summary"
            assert rule["annotations"].get("runbook"), f"{name}: no runbook"
            assert name in tested
            assert True in cases.get(name, []), f"{name}: no promtool test where it fires"
            assert False in cases.get(name, []), f"{name}: no promtool test where it stays silent"
    assert alerts >= 9


def test_recording_rules_are_named_with_colons() -> None:
    for group in promql.load_rule_groups(promql.RULES_DIR / "spoedstroom-recording.yml"):
        for rule in group["rules"]:
            assert rule["record"].count(":") == 2, rule["record"]


def test_expressions_found() -> None:
    exprs = promql.all_expressions()
    origins = {o.split(":")[0] for o, _ in exprs}
    assert any(o.endswith(".json") for o in origins), "no dashboard expressions found"
    assert len(exprs) > 40
    for origin, expr in exprs:
        assert "$" not in expr, f"{origin}: unsubstituted variable in {expr!r}"


def test_metric_names_are_exported_by_the_worker() -> None:
    known = promql.exported_metrics()
    # Sanity of the parse of docs/internals.md.
    for name in ("spoedstroom_location_nedocs_level", "spoedstroom_region_escalation_level",
                 "spoedstroom_hospital_free_beds_by_bed_type", "spoedstroom_location_on_stop",
                 "spoedstroom_consumer_lag_messages", "spoedstroom_ambulance_response_seconds"):
        assert name in known, name
    problems = []
    for origin, expr in promql.all_expressions():
        bad = promql.unknown_metrics(promql.metric_names(expr), known)
        if bad:
            problems.append(f"{origin}: {sorted(bad)}")
    assert not problems, "metrics not in docs/internals.md:\n" + "\n".join(problems)


def test_metric_name_extraction() -> None:
    expr = ('histogram_quantile(0.95, sum by (region, le) (rate(spoedstroom_ambulance_response_seconds_bucket'
            '{urgency=~"A0|A1", region=~"x"}[1h]))) / on(region) group_left up offset 5m')
    assert promql.metric_names(expr) == {"spoedstroom_ambulance_response_seconds_bucket", "up"}
    assert promql.metric_names("time() - spoedstroom_partner_last_event_timestamp_seconds > 15 * 60") == {
        "spoedstroom_partner_last_event_timestamp_seconds"}


@pytest.fixture(scope="module")
def prometheus_url():
    _tool("prometheus")
    with promql.run_prometheus(rule_files=promql.RULE_FILES) as url:
        yield url


@pytest.mark.parametrize("concrete", [False, True], ids=["regex", "concrete"])
def test_every_expression_parses_in_prometheus(prometheus_url: str, concrete: bool) -> None:
    failures = []
    for origin, expr in promql.all_expressions(concrete=concrete):
        answer = promql.query(prometheus_url, expr)
        if answer.get("status") != "success":
            failures.append(f"{origin}: {answer.get('error')}\n    {expr}")
    assert not failures, "PromQL rejected by Prometheus:\n" + "\n".join(failures)


def test_prometheus_loaded_the_rules(prometheus_url: str) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{prometheus_url}/api/v1/rules", timeout=5) as resp:
        groups = json.load(resp)["data"]["groups"]
    names = {r["name"] for g in groups for r in g["rules"]}
    assert "SpoedstroomSEHCrowding" in names and "region:spoedstroom_seh_nedocs:max" in names
