"""The worker's web endpoints and who may read them.

`register(pipeline)` adds these pages to the pipeline's Faust app:

- `/healthz`: liveness, always open (orchestrators probe it without credentials);
- `/readyz`: readiness (partitions assigned, no rebalance), always open;
- `/metrics`: Prometheus exposition, bearer token required when one is set (`?name[]=`
  restricts it to the named families, as prometheus_client's own handler does);
- `/status/{region}`: the region's latest snapshots and open alerts, token likewise;
  `/status/{nation}` (a deployment of several regions): the nation's snapshot;
  `/status`: the regions (and nation) it can answer for, with the registry's names;
- `/board`: the capacity managers' web board (streams/board_page/): a static page, open
  like the probes because it holds no data, that reads `/status` with the token the
  user gives it. Its answers forbid everything but its own script, style and `/status`
  (`BOARD_HEADERS`), and it puts every value in the page as text.

Closed by default: the token is compared in constant time (`authorized`), the worker
refuses to bind anything but loopback without a token (`Settings.check_web_exposure`,
run by `spoedstroom worker`), and malformed HTTP requests, which anyone who can reach
the port can send, are logged as one INFO line instead of an ERROR with a traceback
(`quiet_bad_requests`), so they cannot flood the logs or page anyone. Answers name no
software versions (`hide_server_version`).
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp.web_response
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from streams.app import Pipeline
    from topics.nation import Nation

#: The logger aiohttp's server protocol (web_protocol.RequestHandler) reports errors on.
AIOHTTP_SERVER_LOGGER = "aiohttp.server"
SERVER_NAME = "spoedstroom"  # the `Server` header of every answer (see hide_server_version)
MAX_DETAIL_CHARS = 120  # of the parser's message in the INFO line (it may quote the request)
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";")[0] + "; version=0.0.4"

BOARD_DIR = Path(__file__).with_name("board_page")
#: The board's files by the name they are asked for ("" is /board itself): nothing else
#: is read from disk, whatever the path says.
BOARD_FILES = {
    "": ("index.html", "text/html; charset=utf-8"),
    "board.js": ("board.js", "text/javascript; charset=utf-8"),
    "board-model.mjs": ("board-model.mjs", "text/javascript; charset=utf-8"),
    "board.css": ("board.css", "text/css; charset=utf-8"),
}
#: Sent with the board's files: only its own script and style run, it may fetch only
#: from this worker, no other site may frame it, and no address leaks in a Referer.
BOARD_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
#: The status answers are the region's live figures: no cache keeps them (nor a refusal).
STATUS_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
#: A refused request is told how to authenticate (RFC 9110, 11.6.1).
UNAUTHORIZED_HEADERS = {**STATUS_HEADERS, "WWW-Authenticate": 'Bearer realm="spoedstroom"'}


def authorized(token: str, header: str | None) -> bool:
    """Whether an `Authorization` header value carries the bearer `token`.

    No token configured means no check (allowed on loopback only, see
    Settings.check_web_exposure). The credentials are compared as bytes with
    `hmac.compare_digest`, so the time taken does not tell how much of a guess was
    right; comparing bytes also covers header values that are not ASCII (aiohttp hands
    over undecodable bytes as surrogate escapes), which are refused, never raised on.
    """
    if not token:
        return True
    if not header:
        return False
    try:
        presented = header.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no byte sequence produced
        return False
    scheme, _, offered = presented.strip().partition(b" ")
    if scheme.lower() != b"bearer":  # the scheme is case-insensitive (RFC 9110 11.1)
        return False
    return hmac.compare_digest(offered.strip(), token.encode("utf-8"))


class QuietBadRequests(logging.Filter):
    """Turn aiohttp's report of a malformed request into one INFO line without traceback.

    aiohttp answers such requests itself (400 and the like) and then logs "Error handling
    request" at ERROR with the parser's traceback: a huge header, an unknown method, a
    garbage request line, TLS on the plain port. That is the client's fault, not the
    worker's, and anyone who reaches the port could fill the logs and trip error alerts
    with it. Only parser errors (HttpProcessingError) are changed; a failing page handler
    still logs at ERROR with its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and record.levelno > logging.INFO:
            # A filter that raised would turn aiohttp's 400 into a 500: nothing here may.
            try:
                original = record.getMessage()
            except Exception:  # noqa: BLE001 - a foreign record we only pass on
                original = str(record.msg)
            lines = str(exc.message or "").strip().splitlines()
            # %r: the detail may quote request bytes; repr keeps them on one line, escaped.
            record.msg = "%s: answered %s, %s %r"
            record.args = (original, exc.code, type(exc).__name__, lines[0][:MAX_DETAIL_CHARS] if lines else "")
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def quiet_bad_requests() -> None:
    """Install QuietBadRequests on aiohttp's server logger (once per process).

    A filter on the logger itself, not a handler, so it applies whatever handlers the
    worker's logging setup installs later (Faust's dictConfig keeps existing loggers).
    """
    logger = logging.getLogger(AIOHTTP_SERVER_LOGGER)
    if not any(isinstance(f, QuietBadRequests) for f in logger.filters):
        logger.addFilter(QuietBadRequests())


def hide_server_version() -> None:
    """Answer with `Server: spoedstroom` instead of aiohttp's `Python/3.11 aiohttp/x.y.z`
    (once per process), so a scan of the port learns no versions to match against
    advisories.

    aiohttp has no setting for it, and its answers to requests the parser refuses are
    built without the application (its `on_response_prepare` signal never sees them):
    the default the response module fills in is the one place that covers them all.
    """
    aiohttp.web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]


def register(pipeline: Pipeline) -> None:
    """Add /healthz, /readyz, /metrics, /status, /status/{region} and the board to the
    pipeline's app (the module docstring says who may read each)."""
    app = pipeline.app
    settings = pipeline.settings
    quiet_bad_requests()
    hide_server_version()

    def allowed(request: Any) -> bool:
        return authorized(settings.web_token, request.headers.get("Authorization"))

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        # Both consumer groups settled: the input topics' reader (streams/ingest_consumer.py)
        # has its partitions, and Faust's group (the regions' partitions) is not rebalancing.
        # A worker may own no region (more workers than repartition partitions) and
        # still be a reader of the input.
        ready = not app.rebalancing and pipeline.reader.ready()
        return web.json({"ready": ready}, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        if not allowed(request):
            return web.json({"error": "unauthorized"}, status=401, headers=dict(UNAUTHORIZED_HEADERS))
        # `?name[]=metric&name[]=...` (as prometheus_client's own handler): only those
        # families, so a caller polling a few counters does not pay for every gauge.
        names = request.query.getall("name[]", [])
        registry = pipeline.telemetry.registry
        source = registry.restricted_registry(names) if names else registry
        return web.bytes(generate_latest(source), content_type=METRICS_CONTENT_TYPE)

    @app.page("/status")
    async def status_index(web: Any, request: Any) -> Any:
        if not allowed(request):
            return web.json({"error": "unauthorized"}, status=401, headers=dict(UNAUTHORIZED_HEADERS))
        return web.json(scopes(pipeline.nation), headers=dict(STATUS_HEADERS))

    @app.page("/status/{region}")
    async def status(web: Any, request: Any, region: str) -> Any:
        if not allowed(request):
            return web.json({"error": "unauthorized"}, status=401, headers=dict(UNAUTHORIZED_HEADERS))
        if region == pipeline.nation.id and pipeline.nation.national:
            return web.json(await pipeline.nation_status(), headers=dict(STATUS_HEADERS))
        if region not in pipeline.regions:
            return web.json({"error": f"unknown region {region[:64]!r}"}, status=404, headers=dict(STATUS_HEADERS))
        return web.json(await pipeline.status(region), headers=dict(STATUS_HEADERS))

    board = {name: (BOARD_DIR / file).read_bytes() for name, (file, _type) in BOARD_FILES.items()}

    @app.page("/board")
    async def board_page(web: Any, request: Any) -> Any:
        return web.bytes(board[""], headers={"Content-Type": BOARD_FILES[""][1], **BOARD_HEADERS})

    @app.page("/board/{asset}")
    async def board_asset(web: Any, request: Any, asset: str) -> Any:
        if not asset or asset not in board:
            return web.json({"error": "not found"}, status=404, headers=dict(STATUS_HEADERS))
        return web.bytes(board[asset], headers={"Content-Type": BOARD_FILES[asset][1], **BOARD_HEADERS})


def scopes(nation: Nation) -> dict[str, Any]:
    """What `/status` answers: the regions (and, for a deployment of several, the nation)
    the board can show, and the registry's names of them, their hospitals and locations
    (the snapshots carry ids only)."""
    names: dict[str, str] = {}
    for registry in nation.regions.values():
        names[registry.region_id] = registry.region_name
        for partner in registry.partners.values():
            names[partner.id] = partner.name
        for location in registry.locations.values():
            if location.name:
                names[location.id] = location.name
    if nation.national:
        names[nation.id] = nation.name
    return {
        "nation": {"id": nation.id, "name": nation.name} if nation.national else None,
        "regions": [{"id": rid, "name": registry.region_name} for rid, registry in nation.regions.items()],
        "names": names,
    }
