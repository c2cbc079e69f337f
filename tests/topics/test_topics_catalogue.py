"""The catalogue and the schemas match the binding contract text: the project's own
docs/contract.md, and the shared events.md when it is available."""

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

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "contract.md"
README = ROOT / "README.md"
SHARED_SPEC = Path("/work/shared/spec/events.md")
#: The texts the catalogue must match: the repository's binding text always, the shared
#: specification it was written from when this machine has it.
TEXTS = [CONTRACT] + ([SHARED_SPEC] if SHARED_SPEC.exists() else [])


@pytest.fixture(params=TEXTS, ids=[p.name for p in TEXTS])
def spec(request: pytest.FixtureRequest) -> str:
    text: str = request.param.read_text(encoding="utf-8")
    return text


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _type_rows(text: str) -> dict[str, str]:
    """`| `type` | fields |` rows of the 'Event types' section."""
    rows = {}
    for line in _section(text, "Event types").splitlines():
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


def test_types_match_spec(spec: str) -> None:
    rows = _type_rows(spec)
    assert set(rows) == set(INPUT_TYPES) | set(EMITTED_TYPES)
    assert len(INPUT_TYPES) == 22


@pytest.mark.parametrize("type_name", list(INPUT_TYPES) + ["alert.raised", "alert.resolved"])
def test_schema_fields_match_spec(spec: str, type_name: str) -> None:
    schema = load_schema(type_name)
    fields = _fields(_type_rows(spec)[type_name])
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
    assert schema["properties"]["scope"]["enum"] == ["location", "hospital", "region", "nation"]


def test_input_topics_match_spec(spec: str) -> None:
    section = _section(spec, "Input topics")
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


def _type_to_topic(section: str) -> dict[str, str]:
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([a-z_]+\.[a-z_]+)` \| `(acute\.[a-z]+)` \|$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


@pytest.mark.parametrize("path", [CONTRACT, README], ids=["contract", "readme"])
def test_type_to_topic_tables(path: Path) -> None:
    """docs/contract.md and the README carry the same type -> topic table as the catalogue."""
    text = path.read_text(encoding="utf-8")
    section = _section(text, "Type to topic") if path == CONTRACT else _section(text, "The contract in brief")
    assert _type_to_topic(section) == TOPIC_OF_TYPE
    assert list(_type_to_topic(section)) == list(INPUT_TYPES)


def test_contract_is_self_contained() -> None:
    """The binding text is in the repository: no pointer to a specification outside it."""
    text = CONTRACT.read_text(encoding="utf-8")
    assert "shared/spec" not in text and "events.md" not in text and "metrics.md" not in text
    for title in ("Limits", "Extension attributes", "Times", "Privacy checks", "Dead letters", "Reason codes",
                  "Type to topic", "Region registry", "Order, lateness, duplicates", "Clock modes and replay"):
        assert f"\n## {title}" in text, title
    limits = _section(text, "Limits")
    for needle in ("64 KiB", "128 characters", "80 characters", "256 characters", "0..100000",
                   "`seh` 300", "`ward` 3000", "`elv`/`vvt`/`grz` 5000"):
        assert needle in limits, needle
    readme = README.read_text(encoding="utf-8")
    assert "docs/contract.md" in _section(readme, "The contract in brief")


def test_schema_numbers_are_bounded() -> None:
    """Every number a partner sends has a maximum; integers only where the contract says int."""
    numbers: list[tuple[str, str]] = []

    def walk(name: str, path: str, node: object) -> None:
        if isinstance(node, dict):
            types = node.get("type")
            types = types if isinstance(types, list) else [types]
            if "integer" in types or "number" in types:
                numbers.append((name, path))
                assert "maximum" in node and "minimum" in node, (name, path)
            for k, v in node.items():
                walk(name, f"{path}/{k}", v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(name, f"{path}/{i}", v)

    for type_name in INPUT_TYPES:
        walk(type_name, "", load_schema(type_name))
    assert numbers == [("capacity.reported", "/properties/staffed_beds")]
    beds = load_schema("capacity.reported")["properties"]["staffed_beds"]
    assert (beds["type"], beds["minimum"], beds["maximum"]) == ("integer", 0, 100_000)


def test_status_reason_is_a_code() -> None:
    reason = load_schema("seh.status_changed")["properties"]["reason"]
    assert reason["enum"] == ["full", "crowding", "staff_shortage", "incident", "technical", "other"]
    assert "maxLength" not in reason and "never free text" in reason["description"]
