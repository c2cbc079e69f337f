"""`spoedstroom worker | publish | demo`: the streaming pipeline and its live demo.

The demo runs what production runs: the worker, and the partner gateway with one
hospital (HMC in the example region) sending its SEH and ward events as HL7 v2 ADT over
MLLP, while the simulator's other partners publish CloudEvents to Kafka.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import typer
from rich.console import Console

from streams.commands import settings_or_exit
from streams.settings import Settings, WebExposureError
from topics.catalogue import ADMISSIONS
from topics.nation import Nation, load_nation
from topics.registry import RegistryError

console = Console(stderr=True, soft_wrap=True)


def _registry(path: str | None, settings: Settings):
    try:
        nation = load_nation(path or settings.registry)
        nation.check_placement(settings.internal_partitions)
        return nation
    except RegistryError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        registry: str = typer.Option(None, help="Region registry YAML, national file or directory of region files "
                                                "(default: SPOEDSTROOM_REGISTRY)."),
        clock: str = typer.Option(None, help="Stream clock: wall (production) or event."),
        loglevel: str = typer.Option("warning", help="Faust/worker log level."),
    ) -> None:
        """Run the Faust worker on SPOEDSTROOM_BOOTSTRAP_SERVERS (any Kafka) until stopped."""
        settings = settings_or_exit(clock=clock)
        try:  # before Faust is even imported: a refusal takes a second, not a broker timeout
            settings.check_web_exposure()
        except WebExposureError as exc:
            # One plain line (not Rich, which wraps): what orchestrator logs show on a crash loop.
            typer.echo(f"spoedstroom worker: refusing to start: {exc}", err=True)
            raise typer.Exit(2) from None
        from streams.app import run_worker

        run_worker(settings, _registry(registry, settings), loglevel=loglevel)

    @app.command()
    def publish(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, help="NDJSON log of CloudEvents."),
        speed: str = typer.Option("max", help="1 = real time, N = N times faster, max = as fast as possible."),
        fallback_topic: str = typer.Option(ADMISSIONS, help="Topic for lines whose type cannot be read."),
    ) -> None:
        """Publish an NDJSON event log into the input topics, keyed by partner."""
        from streams.publish import publish_lines, read_lines

        settings = settings_or_exit()
        factor = None if speed == "max" else float(speed)
        sent = publish_lines(read_lines(file), settings.bootstrap_servers, speed=factor, fallback_topic=fallback_topic)
        console.print(f"published {sent} records to {settings.bootstrap_servers}")

    @app.command()
    def demo(
        speed: str = typer.Option("60", help="Simulator speed: 1 = real time, N = N times faster."),
        seed: int = typer.Option(1, help="Simulator seed."),
        hours: float = typer.Option(24 * 7, help="Simulated hours."),
        registry: str = typer.Option(None, help="Region registry YAML, or a nation: a national file or a directory "
                                                "(default: the example region)."),
    ) -> None:
        """The live demo: embedded stack, worker, simulator and the regional board, until Ctrl-C."""
        run_demo(speed, seed, hours, registry)


#: The hospital the demo connects through the gateway, when its registry has an hl7 block.
DEMO_HL7_PARTNER = "hmc"


def gateway_partner(nation: Nation) -> tuple[str, str] | None:
    """The hospital whose events the demo sends through the gateway, and the region file
    the gateway loads (a gateway serves one region): HMC, else the first partner with an
    `hl7:` block, in the first region file that has one; None when no region has any."""
    candidates = [(p.id, registry.path) for registry in nation.regions.values() if registry.path
                  for p in registry.partners.values() if p.hl7 is not None]
    for partner, path in candidates:
        if partner == DEMO_HL7_PARTNER:
            return partner, str(path)
    return (candidates[0][0], str(candidates[0][1])) if candidates else None


def gateway_counts(metrics: str) -> dict[str, int]:
    """HL7 messages by ACK from the gateway's /metrics text: `AA` (accepted or ignored),
    `AE` (refused), `AR` (rejected), `none` (Kafka failed: no ACK, the sender resends)."""
    from prometheus_client.parser import text_string_to_metric_families

    ack = {"accepted": "AA", "ignored": "AA", "refused": "AE", "rejected": "AR", "failed": "none"}
    counts = {"AA": 0, "AE": 0, "AR": 0, "none": 0}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "spoedstroom_gateway_messages_total" and sample.labels.get("protocol") == "hl7":
                code = ack.get(sample.labels.get("outcome", ""))
                if code:
                    counts[code] += int(sample.value)
    return counts


def _gateway_footer(partner: str, mllp_port: int, http_port: int, token: str) -> str:
    text = f"{partner} as HL7 v2 over MLLP :{mllp_port}"
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=1) as resp:
            counts = gateway_counts(resp.read().decode("utf-8"))
    except OSError:
        return text
    text += f", {counts['AA']} AA, {counts['AE']} AE, {counts['AR']} AR"
    return text + (f", {counts['none']} unacknowledged" if counts["none"] else "")


def _wait_ready(proc: subprocess.Popen[bytes], http_port: int, log: Path, timeout: float = 60.0) -> None:
    """Until the gateway answers /readyz (its Kafka producer is up); RuntimeError if it
    exits or takes longer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:  # not listening yet, or 503 until Kafka is there
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the gateway was not ready in {timeout:.0f} s; see {log}")


def run_demo(speed: str, seed: int, hours: float, registry_path: str | None) -> None:
    import redis
    from rich.live import Live

    from streams.board import read_nation, read_region, render, render_nation
    from streams.devstack import EmbeddedStack, StackError

    from streams.devstack import free_port, port_busy

    settings = settings_or_exit()
    nation = _registry(registry_path, settings)
    registry_path = registry_path or settings.registry
    if port_busy(settings.web_port, settings.web_host):
        console.print(f"[red]port {settings.web_port} for the worker's web server is busy: stop what listens "
                      f"there or set SPOEDSTROOM_WEB_PORT[/red]")
        raise typer.Exit(2)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # a closed terminal or a kill cleans up like Ctrl-C

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    stack = EmbeddedStack(settings)
    already = {name for name, row in stack.status().items() if row["pid"]}
    console.print("starting the embedded stack (Tansu broker + Redis) ...")
    try:
        info = stack.up()
    except StackError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    state = Path(settings.state_dir)
    env = dict(os.environ)
    env.update({
        "SPOEDSTROOM_BOOTSTRAP_SERVERS": info["bootstrap_servers"],
        "SPOEDSTROOM_REDIS_URL": info["redis_url"],
        "SPOEDSTROOM_REGISTRY": registry_path,
        "SPOEDSTROOM_EMBEDDED_BROKER": "true",  # its workarounds: see Settings.embedded_broker
        # The simulator runs faster than real time, so the stream follows event time.
        "SPOEDSTROOM_CLOCK": "wall" if speed == "1" else "event",
    })
    cli = [sys.executable, "-c", "from streams.cli import main; main()"]
    procs: list[subprocess.Popen[bytes]] = []
    linked = gateway_partner(nation)
    hl7_partner, gateway_registry = linked if linked else (None, "")
    try:
        with open(state / "worker.log", "ab") as log:
            procs.append(subprocess.Popen(cli + ["worker"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        sim_args: list[str] = []
        sim_env = env
        if hl7_partner is not None:
            # A key and a token of this run only: nothing to configure, nothing kept. The
            # simulator gets the key too, to give the hospital's events that ADT cannot
            # carry (triage, ...) the encounter ids the gateway gives its visits.
            mllp_port, http_port = free_port(), free_port()
            gw_env = {k: v for k, v in env.items()
                      if k not in ("SPOEDSTROOM_PSEUDONYM_KEY_FILE", "SPOEDSTROOM_GATEWAY_TOKENS_FILE")}
            pseudonym_key, partner_token = secrets.token_hex(32), secrets.token_hex(32)
            gw_env["SPOEDSTROOM_PSEUDONYM_KEY"] = pseudonym_key
            gw_env["SPOEDSTROOM_GATEWAY_TOKENS"] = f"{hl7_partner}={partner_token}"
            gw_env.update({
                "SPOEDSTROOM_GATEWAY_HOST": "127.0.0.1",
                "SPOEDSTROOM_GATEWAY_MLLP_PORT": str(mllp_port),
                "SPOEDSTROOM_GATEWAY_HTTP_PORT": str(http_port),
            })
            console.print(f"starting the partner gateway ({hl7_partner} sends HL7 v2 ADT over MLLP) ...")
            with open(state / "gateway.log", "ab") as log:
                procs.append(subprocess.Popen(cli + ["gateway", "--registry", gateway_registry, "--loglevel", "warning"],
                                              env=gw_env, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True))
            _wait_ready(procs[-1], http_port, state / "gateway.log")
            sim_args = ["--mllp", f"127.0.0.1:{mllp_port}", "--hl7-partner", hl7_partner]
            sim_env = {**env, "SPOEDSTROOM_PSEUDONYM_KEY": pseudonym_key}
            sim_env.pop("SPOEDSTROOM_PSEUDONYM_KEY_FILE", None)
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(state / "simulator.log", "ab") as log:
            procs.append(subprocess.Popen(
                cli + ["simulate", "--registry", registry_path, "--seed", str(seed),
                       "--hours", str(hours), "--start", start, "--speed", speed, "--kafka", *sim_args],
                env=sim_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        client = redis.Redis.from_url(info["redis_url"])
        urls = {
            "board": f"http://{settings.web_host}:{settings.web_port}/board",
            "metrics": f"http://{settings.web_host}:{settings.web_port}/metrics",
            "status": f"http://{settings.web_host}:{settings.web_port}/status/{nation.id}",
            "logs": str(state),
        }
        last_footer = 0.0
        with Live(console=Console(), refresh_per_second=2, screen=False) as live:
            while True:
                for proc in procs:
                    if proc.poll() is not None and proc.returncode not in (0, None):
                        raise RuntimeError(f"{proc.args[3] if len(proc.args) > 3 else 'process'} exited with {proc.returncode}; see logs in {state}")
                if hl7_partner is not None and time.monotonic() - last_footer >= 5:
                    last_footer = time.monotonic()
                    urls["gateway"] = _gateway_footer(hl7_partner, mllp_port, http_port, settings.web_token)
                try:
                    if nation.national:
                        live.update(render_nation(nation.name, read_nation(client, nation.id), urls))
                    else:
                        (registry,) = nation.regions.values()
                        snapshots, alerts = read_region(client, registry.region_id)
                        live.update(render(registry, snapshots, alerts, urls))
                except redis.RedisError:
                    pass
                time.sleep(1.0)
    except KeyboardInterrupt:
        console.print("stopping ...")
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if not already:
            stack.down()
        console.print("demo stopped; everything it started is down")
