"""The worker's web endpoints are closed by default (streams/web.py, Settings.check_web_exposure).

- The bearer token is compared in constant time, as bytes: the right token passes; a
  wrong, missing or differently-schemed one, or a header that is not ASCII, is refused
  without an exception.
- Settings that would leave /status and /metrics open to the network (a non-loopback
  bind without a token, or a short or malformed token) are refused, and
  `spoedstroom worker` with them exits at once, non-zero, with one clear line on stderr
  and without needing a broker.
- A real worker answers malformed HTTP requests (a 100 KB header line, an unknown
  method, a garbage request line) with 4xx and logs each as one INFO line: no ERROR
  record and no traceback that anyone reaching the port could trigger at will.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import socket
import subprocess
import sys
import time

import pytest
from aiohttp.http_exceptions import BadStatusLine, LineTooLong

from streams import web
from streams.devstack import free_port
from streams.settings import MIN_BEARER_LENGTH, ROOT, Settings, WebExposureError
from tests.reliability import rel
from tests.support import Stack, wait_until

TOKEN = "web-test-token-0123456789abcdef"


# ------------------------------------------------------------------ the token check


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, object]]:
    """The arguments of every hmac.compare_digest call (the real function still decides)."""
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def test_the_right_token_passes_through_a_constant_time_comparison_of_bytes(compared: list) -> None:
    assert web.authorized(TOKEN, f"Bearer {TOKEN}")
    assert web.authorized(TOKEN, f"bearer {TOKEN}")  # the scheme is case-insensitive
    assert compared and all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in compared)


def test_a_wrong_token_is_refused_in_constant_time(compared: list) -> None:
    assert not web.authorized(TOKEN, f"Bearer {TOKEN[:-1]}x")
    assert not web.authorized(TOKEN, f"Bearer {TOKEN}x")
    assert not web.authorized(TOKEN, "Bearer ")
    assert len(compared) == 3


@pytest.mark.parametrize("header", [None, "", TOKEN, f"Basic {TOKEN}", f"Token {TOKEN}", "Bearer"])
def test_a_missing_header_or_another_scheme_is_refused(header: str | None) -> None:
    assert not web.authorized(TOKEN, header)


@pytest.mark.parametrize("header", [
    f"Bearer {TOKEN[:-1]}é",  # non-ASCII text
    "Bearer \udcff\udcfe\udcc3",  # undecodable bytes, as aiohttp hands them over
    "Bearer \ud800",  # a lone surrogate that no encoding accepts
    "Bearer tökén-ünïcode-∂ßå-1234",
    "\udcffearer " + TOKEN,
])
def test_a_non_ascii_header_is_refused_without_an_exception(header: str) -> None:
    assert web.authorized(TOKEN, header) is False


def test_no_token_configured_means_no_check() -> None:
    # Allowed on loopback only: check_web_exposure refuses it anywhere else.
    assert web.authorized("", None) and web.authorized("", "Bearer anything")


# ---------------------------------------------------------------- the startup check


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LocalHost"])
def test_loopback_may_run_without_a_token(host: str) -> None:
    settings = Settings(web_host=host)
    assert settings.web_is_loopback
    settings.check_web_exposure()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "192.168.0.10", "worker-1", "example.org"])
def test_any_other_bind_without_a_token_is_refused(host: str) -> None:
    settings = Settings(web_host=host)
    assert not settings.web_is_loopback
    with pytest.raises(WebExposureError) as info:
        settings.check_web_exposure()
    message = str(info.value)
    assert "\n" not in message
    assert "SPOEDSTROOM_WEB_TOKEN is empty" in message and f"at least {MIN_BEARER_LENGTH}" in message
    Settings(web_host=host, web_token=TOKEN).check_web_exposure()  # with a token it may


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_a_short_or_malformed_token_is_refused_on_any_bind(host: str) -> None:
    with pytest.raises(WebExposureError, match=rf"has 15 characters.*at least {MIN_BEARER_LENGTH}"):
        Settings(web_host=host, web_token="x" * (MIN_BEARER_LENGTH - 1)).check_web_exposure()
    for bad in (TOKEN + "\n", f" {TOKEN}", TOKEN[:8] + " " + TOKEN[8:], TOKEN + "é"):
        with pytest.raises(WebExposureError, match="whitespace or non-ASCII"):
            Settings(web_host=host, web_token=bad).check_web_exposure()
    Settings(web_host=host, web_token="x" * MIN_BEARER_LENGTH).check_web_exposure()


def test_the_worker_refuses_to_start_exposed_without_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPOEDSTROOM_WEB_TOKEN"}
    # A port nothing listens on: the refusal must come before any broker is needed.
    env.update({"SPOEDSTROOM_WEB_HOST": "0.0.0.0", "SPOEDSTROOM_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"})
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-c", "from streams.cli import main; main()", "worker"],
                         env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=30)
    took = time.monotonic() - started
    assert res.returncode != 0
    assert took < 10, f"took {took:.1f}s"
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("spoedstroom worker: refusing to start: ")
    assert "SPOEDSTROOM_WEB_HOST='0.0.0.0'" in lines[0] and "SPOEDSTROOM_WEB_TOKEN is empty" in lines[0]
    assert "Traceback" not in res.stderr and res.stdout == ""


# ------------------------------------------------------------- malformed requests


def test_the_filter_quiets_parser_errors_only(caplog: pytest.LogCaptureFixture) -> None:
    web.quiet_bad_requests()
    web.quiet_bad_requests()  # installed once, however often the pipeline is built
    logger = logging.getLogger(web.AIOHTTP_SERVER_LOGGER)
    assert sum(isinstance(f, web.QuietBadRequests) for f in logger.filters) == 1
    caplog.set_level(logging.DEBUG, logger=web.AIOHTTP_SERVER_LOGGER)
    for exc in (LineTooLong(b"a" * 100_000, 8190), BadStatusLine("GET / HTTP/9.x\r\nX: \x1b[31m")):
        logger.exception("Error handling request from %s", "192.0.2.7", exc_info=exc)
    # A page handler that fails is the worker's fault: still ERROR, with its traceback.
    logger.exception("Unhandled exception", exc_info=RuntimeError("a page handler failed"))
    big, garbage, handler = caplog.records
    for record in (big, garbage):
        assert record.levelno == logging.INFO and record.exc_info is None
        message = record.getMessage()
        assert message.startswith("Error handling request from 192.0.2.7: answered 400, ")
        assert "\n" not in message and "\x1b" not in message and len(message) < 300, message
    assert handler.levelno == logging.ERROR and isinstance(handler.exc_info[1], RuntimeError)


def raw(port: int, data: bytes, before: bytes | None = None, head: bool = False) -> bytes:
    """Send `data` over a fresh connection (after the complete request `before`, if given,
    and its response: aiohttp treats a bad first request differently from a later one);
    return the status line of the answer to `data` (`head`: its status line and headers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if before is not None:
            sock.sendall(before)
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            body = head.split(b"\r\n\r\n", 1)[1]
            while len(body) < length:
                body += sock.recv(65536)
        try:
            sock.sendall(data)
        except OSError:  # the server may answer and close before the whole 100 KB arrived
            pass
        answer = b""
        end = b"\r\n\r\n" if head else b"\r\n"
        try:
            while end not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            pass
    return answer.split(end, 1)[0]


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: spoedstroom\r\n\r\n"
BAD_REQUESTS = {
    "a 100 KB header line": b"GET /healthz HTTP/1.1\r\nHost: spoedstroom\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    "method FOO": b"FOO /metrics HTTP/1.1\r\nHost: spoedstroom\r\n\r\n",
    "a garbage request line": b"\x16\x03\x01\x00\xa5\x01\x00\x00 garbage \xff\r\n\r\n",
    "a garbage HTTP version": b"GET /healthz HTTP/9.x\r\nHost: spoedstroom\r\n\r\n",
}


def test_malformed_requests_get_4xx_and_one_info_line_without_traceback(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # INFO, so that the downgraded records show in the log (and ERROR would too).
    monkeypatch.setenv("SPOEDSTROOM_TEST_LOGLEVEL", "info")
    worker, port = stack.start_worker(extra_env={"SPOEDSTROOM_WEB_TOKEN": TOKEN})
    wait_until(lambda: worker.poll() is None and rel.http(port, "/healthz", timeout=2)[0] == 200, 60,
               f"the worker's web server; log:\n{stack.log()}")

    answers = {name: raw(port, data) for name, data in BAD_REQUESTS.items()}
    # aiohttp logs a bad method on a later request of a connection at ERROR (on the first
    # only at DEBUG, as likely a scanner): send one after a good request too.
    answers["method FOO after a good request"] = raw(port, BAD_REQUESTS["method FOO"], before=HEALTHZ)
    for name, status_line in answers.items():
        assert re.match(rb"HTTP/1\.[01] 4\d\d ", status_line), (name, status_line)
    # No answer names software versions, not even the parser's own to a garbage request.
    for data in (HEALTHZ, BAD_REQUESTS["a garbage request line"], BAD_REQUESTS["method FOO"]):
        answer = raw(port, data, head=True)
        assert b"\r\nServer: spoedstroom" in answer and b"aiohttp" not in answer and b"Python" not in answer, answer

    # The token check on the real server: bytes that are not ASCII are refused, not a 500.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: spoedstroom\r\nConnection: close\r\n"
                     b"Authorization: Bearer \xff\xfe\xc3\xa9" + TOKEN.encode() + b"\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 401 ")
    assert rel.http(port, "/metrics", token=TOKEN)[0] == 200
    # `name[]` restricts the exposition to the named families (cheap polling of counters)
    status, body = rel.http(port, "/metrics?name[]=spoedstroom_events_applied_total", token=TOKEN)
    samples = [line for line in body.splitlines() if line and not line.startswith("#")]
    assert status == 200 and samples and all(s.startswith("spoedstroom_events_applied_total") for s in samples), body
    assert rel.http(port, "/metrics", token=TOKEN[:-1] + "x")[0] == 401
    assert rel.http(port, "/metrics")[0] == 401

    # Each of the three that aiohttp would log at ERROR is one INFO line now.
    log = (stack.state_dir / "worker.log").read_text(errors="replace")
    quiet = [line for line in log.splitlines() if "Error handling request" in line]
    assert len([line for line in quiet if "[INFO]" in line and "answered 400" in line]) >= 3, log[-4000:]
    assert all("[INFO]" in line or "[DEBUG]" in line for line in quiet), quiet
    assert "Traceback" not in log, log[-4000:]
    assert "[ERROR]" not in log and "[CRITICAL]" not in log, log[-4000:]
    assert worker.poll() is None, "the worker must still be running"
