"""Running `spoedstroom gateway` as a process for the tests, and talking to it as a
hospital's interface engine would: MLLP blocks in, ACKs out; FHIR over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from streams.devstack import free_port
from tests.adapters.messages import KEY
from tests.support import REGISTRY, Stack

TOKENS = {"hmc": "hmc-token-0123456789abcdef", "haga": "haga-token-0123456789abcdef"}


class Gateway:
    """A running gateway process and its ports."""

    def __init__(self, bootstrap: str, proc: subprocess.Popen[bytes], mllp: int, http: int, log: Path) -> None:
        self.bootstrap, self.proc, self.mllp, self.http, self.log = bootstrap, proc, mllp, http, log

    def send_hl7(self, text: str) -> str:
        """One message over MLLP; returns the ACK text."""
        with socket.create_connection(("127.0.0.1", self.mllp), timeout=30) as conn:
            conn.sendall(b"\x0b" + text.encode("utf-8") + b"\x1c\r")
            data = b""
            while not data.endswith(b"\x1c\r"):
                chunk = conn.recv(65536)
                assert chunk, f"connection closed without ACK; log:\n{self.log.read_text()[-2000:]}"
                data += chunk
        assert data.startswith(b"\x0b")
        return data[1:-2].decode("utf-8")

    def post(self, path: str, body: Any, token: str | None = TOKENS["hmc"]) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", data=data, method="POST",
                                     headers={"Content-Type": "application/fhir+json"})
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, orjson.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, orjson.loads(err.read())

    def get(self, path: str) -> tuple[int, bytes]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=10) as resp:
            return resp.status, resp.read()


def msa(ack: str) -> list[str]:
    """The fields of an ACK's MSA segment (`[MSA, code, control id, note]`)."""
    segment = next(s for s in ack.split("\r") if s.startswith("MSA|"))
    return segment.split("|")


def start_gateway(stack: Stack, tmp: Path, registry: str = REGISTRY) -> Gateway:
    """`spoedstroom gateway` on free ports against the stack's broker, ready (/readyz);
    stopped with the stack."""
    tokens_file = tmp / "tokens"
    tokens_file.write_text("".join(f"{p}={t}\n" for p, t in TOKENS.items()))
    mllp, http = free_port(), free_port()
    env = dict(stack.env)
    env.update({"SPOEDSTROOM_REGISTRY": registry, "SPOEDSTROOM_PSEUDONYM_KEY": KEY.decode(),
                "SPOEDSTROOM_GATEWAY_TOKENS_FILE": str(tokens_file),
                "SPOEDSTROOM_GATEWAY_MLLP_PORT": str(mllp), "SPOEDSTROOM_GATEWAY_HTTP_PORT": str(http)})
    log = tmp / "gateway.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from streams.cli import main; main()", "gateway",
                                 "--loglevel", "debug"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    gw = Gateway(stack.bootstrap, proc, mllp, http, log)
    stack.workers.append(proc)  # stopped with the stack

    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, f"the gateway stopped; log:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"the gateway is not ready; log:\n{log.read_text()[-3000:]}"
        try:
            if gw.get("/readyz")[0] == 200:
                return gw
        except OSError:  # not listening yet
            pass
        time.sleep(0.2)
