"""The catalogue and the schemas match the binding text of events.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from topics.catalogue import (
    ALL_TOPICS,
    EMITTED_TYPES,
    INPUT_TOPICS,
    INPUT_TYPES,
    OUTPUT_TOPICS,
    TOPIC_OF_TYPE,
)
from topics.validation import load_schema

SPEC = Path("/work/shared/spec/events.md")
if not SPEC.exists():  # the repository may also carry a copy
    SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "events.md"
pytestmark = pytest.mark.skipif(not SPEC.exists(), reason="events.md not available")


def _spec() -> str:
    return SPEC.read_text(encoding="utf-8")


def _type_rows() -> dict[str, str]:
    """`| `type` | fields |` rows of the 'Event types' section."""
    section = _spec().split("## Event types", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([a-z_]+\.[a-z_]+)` \| (.*) \|$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def _fields(cell: str) -> dict[str, tuple[bool, list[str] | None]]:
    """field -> (required, enum values or None) from a data cell of events.md."""
    cell = re.sub(r"\([^)]*\)", "", cell).replace("\\|", "|")
    out: dict[str, tuple[bool, list[str] | None]] = {}
    for part in cell.split(","):
        part = part.strip()
        m = re.match(r"`([a-z_]+)(\??)`(.*)", part)
        if not m:
            continue
        name, optional, rest = m.groups()
        values = None
        if rest.strip().startswith(":") and "|" in rest:
            values = re.findall(r"`([^`]+)`", rest)
        out[name] = (not optional, values)
    return out


def test_types_match_spec() -> None:
    rows = _type_rows()
    assert set(rows) == set(INPUT_TYPES) | set(EMITTED_TYPES)
    assert len(INPUT_TYPES) == 22


@pytest.mark.parametrize("type_name", list(INPUT_TYPES) + ["alert.raised", "alert.resolved"])
def test_schema_fields_match_spec(type_name: str) -> None:
    schema = load_schema(type_name)
    fields = _fields(_type_rows()[type_name])
    assert set(schema["properties"]) == set(fields), type_name
    assert set(schema["required"]) == {f for f, (req, _) in fields.items() if req}
    assert schema["additionalProperties"] is False
    for name, (_, values) in fields.items():
        if values:
            assert schema["properties"][name]["enum"] == values, name


def test_snapshot_schema() -> None:
    schema = load_schema("metrics.snapshot")
    assert schema["required"] == ["scope", "id", "as_of"]
    assert schema["additionalProperties"] is True
    assert schema["properties"]["scope"]["enum"] == ["location", "hospital", "region"]


def test_input_topics_match_spec() -> None:
    section = _spec().split("## Input topics", 1)[1].split("\n## ", 1)[0]
    carried: dict[str, str] = {}
    for line in section.splitlines():
        m = re.match(r"\| `(acute\.[a-z]+)` \| (.*?) \|", line)
        if m:
            for item in m.group(2).split(","):
                carried[item.strip()] = m.group(1)
    for type_name, topic in TOPIC_OF_TYPE.items():
        family = type_name.split(".")[0] + ".*"
        assert carried.get(type_name, carried.get(family)) == topic, type_name


def test_topic_configs() -> None:
    assert [t.name for t in INPUT_TOPICS] == [
        "acute.calls", "acute.dispatches", "acute.admissions", "acute.discharges", "acute.capacity",
    ]
    for t in INPUT_TOPICS:
        assert t.partitions == 6
        assert t.config == {"cleanup.policy": "delete", "retention.ms": str(30 * 86_400_000)}
    out = {t.name: t.config for t in OUTPUT_TOPICS}
    assert out["acute.metrics"]["cleanup.policy"] == "compact"
    assert out["acute.alerts"] == out["acute.deadletter"] == {"cleanup.policy": "delete", "retention.ms": "2592000000"}
    assert len(ALL_TOPICS) == 8 and len({t.name for t in ALL_TOPICS}) == 8
    assert set(TOPIC_OF_TYPE.values()) == {t.name for t in INPUT_TOPICS}
