"""The group memberships a crashed worker left behind, removed when a worker starts.

Why: without a static member name (`SPOEDSTROOM_GROUP_INSTANCE_ID`) a worker joins its
two consumer groups (`{app id}` and `{app id}-ingest`) as a new member at every start. A
worker that was killed (SIGKILL, the OOM killer) never said goodbye: its groups count
it until its session times out, so the restarted worker's join waits for a member that
will not answer, may be handed partitions next to it that nobody reads, and a second
rebalance follows when the session ends. Nor does a clean stop always leave: aiokafka
sends LeaveGroup only after a generation above 0, and the embedded broker (Tansu)
numbers them from 0.

How: each worker writes the member ids its groups gave it to a file of its own in
`{state dir}/group-members/`, and holds that file locked (`flock`) for as long as it
runs. The kernel drops the lock when the process ends, however it ends. A starting
worker takes the files nobody holds, asks each group's coordinator to remove those
members (Kafka's LeaveGroup, what the dead process would have sent), and deletes the
files. Workers sharing a state directory (the tests, the bench) so only ever remove
members of processes that are gone; a member id names one process's membership only
(client id and a UUID), so a live member is never touched. Static members are left
alone: a worker restarted under the same name takes its old place at once. Only a
restart on the same state directory benefits (a container restarted in its pod, a
worker restarted on its host); a worker rescheduled elsewhere starts with none.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.protocol.group import LeaveGroupRequest

log = logging.getLogger(__name__)

MEMBERS_DIR = "group-members"
#: At most this long for all the LeaveGroup requests at start: a broker that is not
#: reachable yet must not hold the worker's start (its join then waits as before).
LEAVE_TIMEOUT_S = 5.0


class Memberships:
    """This worker's members of its consumer groups, in a file only it holds locked."""

    def __init__(self, state_dir: str | Path) -> None:
        self.dir = Path(state_dir) / MEMBERS_DIR
        self.members: dict[str, str] = {}  # group id -> member id
        self.file: IO[bytes] | None = None

    def left_behind(self) -> dict[str, list[str]]:
        """The member ids (by group) of the files no running worker holds; their files
        are deleted."""
        found: dict[str, list[str]] = {}
        for path in sorted(self.dir.glob("*.json")) + sorted(self.dir.glob("*.staging")):
            try:
                with path.open("rb") as fh:
                    try:
                        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a running worker's, or another starting worker took it
                    if os.fstat(fh.fileno()).st_ino != os.stat(path).st_ino:
                        continue  # replaced meanwhile by a new worker's file
                    members = _members(fh.read()) if path.suffix == ".json" else {}
                    path.unlink()
            except OSError:
                continue  # gone meanwhile: another starting worker took it
            for group, member in members.items():
                found.setdefault(group, []).append(member)
        return found

    def hold(self) -> None:
        """Create this worker's file, locked until the process ends (best effort: without
        it the next start waits for the session timeout, as before)."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            # Locked before it gets the name another starting worker reads.
            fd, staging = tempfile.mkstemp(dir=self.dir, prefix=f"{os.getpid()}-", suffix=".staging")
            fh = os.fdopen(fd, "wb")
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
            os.replace(staging, self.dir / f"{Path(staging).stem}.json")
        except OSError as exc:
            log.warning("could not create this worker's group members file (%s)", type(exc).__name__)
            return
        self.file = fh

    def record(self, group: str, member_id: str | None) -> None:
        """The member id `group` gave this worker (at each assignment: it can change)."""
        if not member_id or self.file is None or self.members.get(group) == member_id:
            return
        self.members[group] = member_id
        try:
            self.file.seek(0)
            self.file.truncate()
            self.file.write(orjson.dumps(self.members))
            self.file.flush()
        except OSError as exc:  # a full disk: the next start waits for the session timeout, as before
            log.warning("could not note this worker's group members (%s)", type(exc).__name__)


def member_id(consumer: Any) -> str | None:
    """The member id of an aiokafka consumer in its group (aiokafka keeps it on its group
    coordinator and has no public accessor; None if that changes: nothing is noted, and
    a restart waits for the session timeout as before)."""
    member = getattr(getattr(consumer, "_coordinator", None), "member_id", None)
    return member if isinstance(member, str) else None


def _members(raw: bytes) -> dict[str, str]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}  # cut short by the crash
    if not isinstance(value, dict):
        return {}
    return {str(g): m for g, m in value.items() if isinstance(m, str) and m}


async def _leave(client_options: dict[str, Any], members: dict[str, list[str]]) -> None:
    client = AIOKafkaClient(**client_options)
    try:
        await client.bootstrap()
        for group, ids in members.items():
            try:
                node = await client.coordinator_lookup(CoordinationType.GROUP, group)
                for member in ids:
                    # Kafka answers a member it does not know with UNKNOWN_MEMBER_ID; the
                    # embedded broker answers 0 either way.
                    response = await client.send(node, LeaveGroupRequest(group, member))
                    # A warning: the trace of a worker that stopped without leaving, and
                    # this runs before the worker's logging is set up.
                    log.warning("group %s: asked to remove the member %s that a stopped worker left in it "
                                "(error code %s)", group, member, response.error_code)
            except Exception as exc:  # noqa: BLE001 - best effort, per group
                log.warning("group %s: could not remove the members of a stopped worker (%s)", group,
                            type(exc).__name__)
    finally:
        await client.close()


def leave_left_behind(memberships: Memberships, client_options: dict[str, Any]) -> None:
    """Remove the members that stopped workers left in their groups (best effort, in a
    loop of its own before the worker's starts: at worst the join waits for their
    session timeout, as it did without this)."""
    members = memberships.left_behind()
    if not members:
        return
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(_leave(client_options, members), LEAVE_TIMEOUT_S))
    except Exception as exc:  # noqa: BLE001 - the broker unreachable, a setting wrong: the worker starts anyway
        log.warning("could not remove the group members of a stopped worker (%s): the join waits for "
                    "their session timeout", type(exc).__name__)
    finally:
        loop.close()
