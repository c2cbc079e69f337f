"""The bench's results as text: the targets, a table per phase, the "Latest run" block of
docs/performance.md and the JSON file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

from streams.bench.common import LATEST_END, LATEST_START, RSS_TARGET_ENCOUNTERS, TARGETS


def evaluate_targets(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ratio = (r.get("pipeline") or {}).get("ratio_to_ceiling")
    out["pipeline_ratio"] = {"target": f">= {TARGETS['pipeline_ratio']} (stretch 0.1)", "value": ratio,
                             "met": None if ratio is None else ratio >= TARGETS["pipeline_ratio"]}
    p99 = None
    for row in (r.get("freshness") or {}).get("rates", []):
        if row["rate"] == 100:
            p99 = row["metrics"]["p99_ms"]
    out["freshness_p99_ms_at_100"] = {"target": f"<= {TARGETS['freshness_p99_ms_at_100']:.0f} ms", "value": p99,
                                      "met": None if p99 is None else p99 <= TARGETS["freshness_p99_ms_at_100"]}
    mem = r.get("memory") or {}
    rss = mem.get("hwm_bytes")
    mb = None if rss is None else round(rss / 2**20, 1)
    # measured at the target's 100,000 or not judged: no extrapolation from fewer
    at = mem.get("open_encounters") or 0
    judged = mb is not None and at >= RSS_TARGET_ENCOUNTERS
    out["rss_mb_open_encounters"] = {
        "target": f"<= {TARGETS['rss_mb_open_encounters']:.0f} MB at {RSS_TARGET_ENCOUNTERS:,} open encounters",
        "value": mb, "measured_at": at or None,
        "met": (mb <= TARGETS["rss_mb_open_encounters"]) if judged else None}
    rec_r = r.get("recovery") or {}
    rec = rec_r.get("recovery_seconds")
    out["recovery_s"] = {"target": f"<= {TARGETS['recovery_s']:.0f} s after {rec_r.get('recovery_signal', 'SIGKILL')}, "
                                   "every region restored", "value": rec,
                         "met": None if rec is None else rec <= TARGETS["recovery_s"]}
    return out


def _mb(x: Any) -> str:
    return "-" if not x else f"{x / 2**20:,.0f} MB"


def _n(x: Any, fmt: str = ",.0f") -> str:
    return "-" if x is None else format(x, fmt)


def render_phase(name: str, result: dict[str, Any]) -> Table:
    table = Table(title=f"{name}", show_header=False, title_justify="left")
    for k, v in result.items():
        if isinstance(v, (list, dict)):
            v = orjson.dumps(v).decode()
            if len(v) > 160:
                v = v[:157] + "..."
        table.add_row(k, str(v))
    return table


def latest_markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    reg = r["registry"]
    fill = r.get("fill", {})
    ceil = r.get("ceiling", {})
    pipe = r.get("pipeline", {})
    fresh = r.get("freshness") or {}
    mem = r.get("memory") or {}
    rec = r.get("recovery") or {}
    lines = [
        f"Run {r['started_at']} ({r.get('duration_s', '-')} s), `spoedstroom bench "
        + " ".join(_cli_args(r["options"])) + "`.",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_bytes'] / 2**30:.1f} GiB RAM, Python {m['python']}, "
        f"load average at start {', '.join(str(x) for x in m.get('loadavg_at_start', []))} (shared, noisy); "
        f"domain core: {m.get('core', 'source')} (README, \"The compiled core\"); "
        "1-minute load average after each phase: " + ", ".join(
            f"{name} {r[name]['loadavg_1min_after']}" for name in PHASES
            if isinstance(r.get(name), dict) and "loadavg_1min_after" in r[name]) + ".",
        f"- Broker: {r['options']['bootstrap']} (Tansu, memory-only, when embedded); registry `{reg['path']}` "
        f"({_regions(reg)}{reg['sehs']} SEHs, {reg['locations']} locations, {reg['partners']} partners).",
        f"- One-region figures (freshness probes, the new event of the recovery phase) look at `{reg.get('region')}`, "
        f"the largest region ({reg.get('region_sehs', '-')} SEHs, {reg.get('region_locations', '-')} locations).",
        f"- N = {_n(fill.get('events'))} events ({_n(fill.get('event_time_span_hours'), '.1f')} simulated hours, "
        f"~{_n(fill.get('events_per_simulated_day'))} events per simulated day, {_n(fill.get('mean_record_bytes'), '.0f')} bytes per record).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| fill (kafka-python producer, raw bytes) | {_n(fill.get('events_per_s'))} events/s |",
        f"| ceiling (aiokafka consumer + orjson.loads) | {_n(ceil.get('events_per_s'))} events/s |",
        f"| pipeline (`spoedstroom worker`, event clock) | {_n(pipe.get('events_per_s'))} events/s "
        f"({_n(pipe.get('seconds'), '.1f')} s from first to last applied{', profiled' if pipe.get('profiled') else ''}) |",
        f"| ratio pipeline / ceiling | {_n(pipe.get('ratio_to_ceiling'), '.3f')} |",
        f"| pipeline worker peak RSS | {_mb(pipe.get('peak_rss_bytes'))} |",
    ]
    lines += _workers_rows(r.get("workers") or {})
    for row in fresh.get("rates", []):
        mt, rd = row["metrics"], row["redis"]
        lines.append(
            f"| freshness at {row['rate']:,}/s ({row['achieved_rate']:,}/s achieved, {row['probes']} probes): "
            f"acute.metrics / Redis p50, p95, p99 | {_n(mt['p50_ms'])} / {_n(rd['p50_ms'])}, "
            f"{_n(mt['p95_ms'])} / {_n(rd['p95_ms'])}, {_n(mt['p99_ms'])} / {_n(rd['p99_ms'])} ms |")
    if fresh.get("worker_cpu_share") is not None:
        lines.append(f"| freshness worker CPU (seconds per second of its life, start-up included) | "
                     f"{fresh['worker_cpu_share']:.2f} |")
    if mem.get("open_encounters"):
        lines += [
            f"| worker RSS with {_n(mem.get('open_encounters'))} open encounters, {mem.get('spread', '')} (VmRSS / VmHWM) | "
            f"{_mb(mem.get('rss_bytes'))} / {_mb(mem.get('hwm_bytes'))} ({_n(mem.get('rss_per_encounter_bytes'))} bytes per encounter) |",
            f"| state: live changelog entries / bytes | {_n(mem.get('state_entries'))} / {_mb(mem.get('state_bytes'))} |",
            f"| state: changelog topic records / bytes (uncompacted) | {_n(mem.get('changelog_records'))} / {_mb(mem.get('changelog_bytes'))} |",
            f"| applying {_n(mem.get('open_encounters'))} `seh.arrived` | {_n(mem.get('apply_seconds'), '.1f')} s |",
        ]
    opts = r.get("options", {})
    setup = f"{opts.get('state_store', 'memory://')}, " + (
        "static membership" if opts.get("static_membership") else "dynamic membership")
    for run in rec.get("runs", []):
        lines.append(
            f"| recovery after {run['signal']} ({setup}): ready / `{rec.get('region')}` restored / every region restored / "
            f"new event applied | {run['ready_seconds']:.1f} / {run.get('region_restored_seconds', 0):.1f} / "
            f"{run['restored_seconds']:.1f} / {run['first_new_event_seconds']:.1f} s "
            f"(stop took {run['stop_seconds']:.1f} s) |")
    failed = [(name, v["error"]) for name, v in r.items() if isinstance(v, dict) and "error" in v]
    if r.get("stopped"):
        lines += ["", f"The run was {r['stopped']}: the phases after the last one above did not run."]
    if failed:
        lines += ["", "Phases that did not finish:", ""]
        lines += [f"- **{name}** (after {v.get('phase_seconds', '-')} s): {err}"
                  for name, err in failed for v in [r[name]]]
    lines += ["", "Targets (from the issue):", "", "| target | value | met |", "|---|---|---|"]
    for name, t in (r.get("targets") or {}).items():
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        if t["met"] is None and t.get("measured_at"):
            met = f"not judged (measured at {t['measured_at']:,})"
        lines.append(f"| {name}: {t['target']} | {t['value'] if t['value'] is not None else '-'} | {met} |")
    prof = r.get("profile")
    if prof:
        lines += ["", f"Profile of the pipeline worker ({prof['tool']}, {prof['samples']} samples), top self time:", ""]
        lines += ["| share | function |", "|---|---|"]
        lines += [f"| {p['share'] * 100:.1f}% | `{p['function']}` |" for p in prof["top_self"][:10]]
        lines += ["", "Top inclusive time:", "", "| share | function |", "|---|---|"]
        lines += [f"| {p['share'] * 100:.1f}% | `{p['function']}` |" for p in prof["top_inclusive"][:12]]
    if fresh.get("note"):
        lines += ["", "Freshness note: " + fresh["note"]]
    if (r.get("workers") or {}).get("note"):
        lines += ["", f"Workers note: {r['workers']['note']}."]
    return "\n".join(lines)


PHASES = ("fill", "ceiling", "pipeline", "workers", "freshness", "memory", "recovery")


def _regions(reg: dict[str, Any]) -> str:
    return f"{reg['regions']} regions, " if reg.get("regions", 1) > 1 else ""


def _workers_rows(wk: dict[str, Any]) -> list[str]:
    if not wk.get("per_worker"):
        return []
    split = wk.get("split") or {}
    owned = "; ".join(f"{p['name']}: {', '.join(p['regions']) or 'none'} ({_n(p['applied'])} applied, "
                      f"{_n(p['cpu_seconds'], '.0f')} CPU s, peak {_mb(p['peak_rss_bytes'])})" for p in wk["per_worker"])
    ok = "yes" if split.get("each_region_owned_once") else (
        f"**no** (unowned {split.get('unowned')}, owned twice {split.get('owned_twice')})")
    return [
        f"| pipeline with {wk['workers']} workers in one consumer group (same records) | "
        f"{_n(wk.get('events_per_s'))} events/s ({_n(wk.get('seconds'), '.1f')} s from first to last applied) |",
        f"| ratio {wk['workers']} workers / 1 worker | {_n(wk.get('ratio_to_one_worker'), '.2f')} |",
        f"| regions per worker (owner flags of `/status/{{region}}`) | {owned} |",
        f"| each region owned by exactly one worker | {ok} |",
    ]

def _cli_args(opts: dict[str, Any]) -> list[str]:
    args = [f"--events {opts['events']}"]
    if opts.get("freshness"):
        args.append(f"--freshness-seconds {opts['freshness_seconds']:g}")
        if list(opts.get("rates") or ()) != [10, 100, 1000]:
            args.append("--rates " + ",".join(str(x) for x in opts["rates"]))
    else:
        args.append("--skip-freshness")
    if opts.get("memory"):
        args.append(f"--open-encounters {opts['open_encounters']}")
    if not opts.get("recovery"):
        args.append("--skip-recovery")
    elif opts.get("sigkill") is False:
        args.append("--no-sigkill")
    if opts.get("profile"):
        args.append("--profile")
    if opts.get("registry"):
        args.append(f"--registry {opts['registry']}")
    if opts.get("workers", 2) != 2:
        args.append(f"--workers {opts['workers']}")
    if opts.get("state_store", "rocksdb://") != "rocksdb://":
        args.append(f"--state-store {opts['state_store']}")
    if opts.get("static_membership"):
        args.append("--static-membership")
    return args


DOC_TEMPLATE = """# Performance

`spoedstroom bench` measures the pipeline on one broker; see the options with
`spoedstroom bench --help`.

## Latest run

{start}
{end}

## Optimisation log
"""


def write_doc(path: Path, r: dict[str, Any]) -> None:
    """Replace the "Latest run" block of docs/performance.md (other sections are kept)."""
    text = path.read_text(encoding="utf-8") if path.exists() else DOC_TEMPLATE.format(start=LATEST_START, end=LATEST_END)
    if LATEST_START not in text or LATEST_END not in text:
        text = text.rstrip() + f"\n\n## Latest run\n\n{LATEST_START}\n{LATEST_END}\n"
    head, rest = text.split(LATEST_START, 1)
    _, tail = rest.split(LATEST_END, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + LATEST_START + "\n" + latest_markdown(r) + "\n" + LATEST_END + tail, encoding="utf-8")


def write_json(path: Path, r: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(r, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
