"""The group memberships a killed worker left behind (streams/membership.py): found only
in files no running process holds, and removed from the groups when a worker starts."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.protocol.admin import DescribeGroupsRequest

from streams.membership import MEMBERS_DIR, Memberships
from tests.reliability.rel import http
from tests.support import Stack, wait_until
from topics.catalogue import DEFAULT_APP_ID, ingest_group

# A process that holds a members file the way a worker does, until it is killed.
_HOLDER = """
import sys, time
from streams.membership import Memberships
m = Memberships(sys.argv[1])
m.hold()
m.record("group-a", "member-of-the-living")
print("held", flush=True)
time.sleep(600)
"""


def test_a_running_workers_file_is_left_alone_and_a_dead_ones_is_taken(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        dead = tmp_path / MEMBERS_DIR / "999999999.json"
        dead.write_bytes(orjson.dumps({"group-a": "member-of-the-dead", "group-b": "another"}))

        assert Memberships(tmp_path).left_behind() == {"group-a": ["member-of-the-dead"], "group-b": ["another"]}
        assert not dead.exists()
        assert Memberships(tmp_path).left_behind() == {}  # the living one's stays unread

        holder.send_signal(signal.SIGKILL)  # the kernel drops its lock
        holder.wait(timeout=10)
        assert Memberships(tmp_path).left_behind() == {"group-a": ["member-of-the-living"]}
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_file_cut_short_by_a_crash_names_nobody(tmp_path: Path) -> None:
    (tmp_path / MEMBERS_DIR).mkdir()
    (tmp_path / MEMBERS_DIR / "1.json").write_bytes(b'{"group-a": "memb')
    (tmp_path / MEMBERS_DIR / "2.json").write_bytes(b"")
    assert Memberships(tmp_path).left_behind() == {}
    assert not list((tmp_path / MEMBERS_DIR).iterdir())


def test_a_worker_notes_its_members_and_replaces_them_when_they_change(tmp_path: Path) -> None:
    mine = Memberships(tmp_path)
    mine.record("group-a", "ignored-before-hold")
    mine.hold()
    mine.record("group-a", "m1")
    mine.record("group-b", "m2")
    mine.record("group-a", "m3")
    (path,) = (tmp_path / MEMBERS_DIR).glob("*.json")
    assert orjson.loads(path.read_bytes()) == {"group-a": "m3", "group-b": "m2"}


class _DescribeGroupsV0(DescribeGroupsRequest):
    """DescribeGroups at version 0: the embedded broker's answer to later versions does
    not decode."""

    def prepare(self, versions: dict[int, tuple[int, int]]) -> Any:
        return self.build(self._CLASSES[0])


def _group_members(bootstrap: str, groups: list[str]) -> dict[str, set[str]]:
    """The member ids per group, as the broker describes them."""
    async def describe() -> dict[str, set[str]]:
        client = AIOKafkaClient(bootstrap_servers=bootstrap)
        await client.bootstrap()
        try:
            out: dict[str, set[str]] = {}
            for group in groups:
                node = await client.coordinator_lookup(CoordinationType.GROUP, group)
                (described,) = (await client.send(node, _DescribeGroupsV0(groups=[group]))).groups
                out[group] = {member[0] for member in described[5]}  # (error, id, state, type, protocol, members)
            return out
        finally:
            await client.close()

    return asyncio.run(describe())


def test_a_worker_restarted_after_sigkill_removes_the_members_it_left(stack: Stack) -> None:
    """Without static membership a killed worker stays in its groups until its session
    times out; its successor asks the broker to remove it before joining, so once the
    successor is ready each of the two groups has one member: the successor."""
    groups = [DEFAULT_APP_ID, ingest_group(DEFAULT_APP_ID)]
    first, port = stack.start_worker("w1")
    wait_until(lambda: http(port, "/readyz")[0] == 200, 90, f"the first worker ready; log:\n{stack.log('w1')}")
    (noted,) = (stack.state_dir / MEMBERS_DIR).glob("*.json")
    killed = orjson.loads(noted.read_bytes())
    assert {group: {member} for group, member in killed.items()} == _group_members(stack.bootstrap, groups)
    stack.stop_worker(first, signal.SIGKILL)

    _second, port = stack.start_worker("w2")
    wait_until(lambda: http(port, "/readyz")[0] == 200, 90, f"the restarted worker ready; log:\n{stack.log('w2')}")
    log = (stack.state_dir / "w2.log").read_text(errors="replace")
    for group, member in killed.items():
        assert f"group {group}: asked to remove the member {member} that a stopped worker left in it" in log, log
    (noted,) = (stack.state_dir / MEMBERS_DIR).glob("*.json")  # the killed worker's file is gone
    successor = orjson.loads(noted.read_bytes())
    assert set(successor) == set(groups) and not set(successor.values()) & set(killed.values())
    assert _group_members(stack.bootstrap, groups) == {group: {member} for group, member in successor.items()}
