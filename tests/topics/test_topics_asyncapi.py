"""topics/asyncapi.yaml parses, its $refs resolve, and it covers the catalogue."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import yaml

from topics.catalogue import ALL_TOPICS, EMITTED_TYPES, INPUT_TYPES

DOC = Path(__file__).resolve().parents[2] / "topics" / "asyncapi.yaml"


def _load() -> dict[str, Any]:
    doc = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _pointer(doc: Any, pointer: str) -> Any:
    node = doc
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def test_refs_resolve() -> None:
    doc = _load()
    refs = list(_refs(doc))
    assert len(refs) > 50
    files = set()
    for ref in refs:
        target, _, fragment = ref.partition("#")
        base: Any = doc
        if target:
            path = (DOC.parent / target).resolve()
            assert path.is_file(), ref
            files.add(path.name)
            base = json.loads(path.read_text(encoding="utf-8"))
        if fragment:
            _pointer(base, fragment)  # raises when missing
    assert files == {f"{t}.json" for t in (*INPUT_TYPES, *EMITTED_TYPES)} | {"cloudevent.json"}


def test_covers_the_catalogue() -> None:
    doc = _load()
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {t.name for t in ALL_TOPICS}
    assert set(INPUT_TYPES) | set(EMITTED_TYPES) | {"deadletter"} == set(doc["components"]["messages"])
    actions = {(op["action"], _pointer(doc, op["channel"]["$ref"][1:])["address"]) for op in doc["operations"].values()}
    for t in ALL_TOPICS:
        assert ("send", t.name) in actions and ("receive", t.name) in actions
    headers = doc["components"]["messages"]["deadletter"]["headers"]
    always = {"dlq.reason", "dlq.detail", "dlq.topic", "dlq.partition", "dlq.offset"}
    assert set(headers["required"]) == always
    assert set(headers["properties"]) == always | {"dlq.truncated", "dlq.original_size", "dlq.reencoded",
                                                   "dlq.key_truncated", "dlq.original_key_size", "dlq.headers_truncated",
                                                   "dlq.partner", "dlq.trigger"}
    assert "partnerScram" in doc["components"]["securitySchemes"]


def test_deadletter_reasons_cover_the_code() -> None:
    """Every reason code the code can produce is listed, and the list is the one of docs/contract.md."""
    from topics.event import Reason

    doc = _load()
    message = doc["components"]["messages"]["deadletter"]
    listed = message["headers"]["properties"]["dlq.reason"]["enum"]
    assert len(listed) == len(set(listed))
    assert {r.value for r in Reason} <= set(listed)
    contract = (DOC.parents[1] / "docs" / "contract.md").read_text(encoding="utf-8")
    section = contract.split("## Reason codes", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)
    assert set(documented) == set(listed)
    for code in listed:
        assert f"`{code}`" in message["description"], code


def test_no_pointer_to_a_spec_outside_the_repository() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "shared/spec" not in text and "events.md" not in text
    assert "docs/contract.md" in text


def test_gateway_dead_letters_are_documented() -> None:
    """Every reason the partner gateway can put on acute.deadletter is listed (and so, by
    the test above, in docs/contract.md), and the headers it writes match the schema."""
    import jsonschema

    from adapters.gateway import ORIGIN_FHIR, ORIGIN_HL7
    from adapters.outcome import Refusal
    from topics.validation import deadletter_headers

    doc = _load()
    message = doc["components"]["messages"]["deadletter"]
    listed = set(message["headers"]["properties"]["dlq.reason"]["enum"])
    convert_only = {Refusal.WRONG_SENDING_FACILITY.value}  # the gateway has no --partner
    assert {r.value for r in Refusal} - convert_only <= listed
    contract = (DOC.parents[1] / "docs" / "contract.md").read_text(encoding="utf-8")
    for origin in (ORIGIN_HL7, ORIGIN_FHIR):
        assert f"`{origin}`" in contract and f"`{origin}`" in message["description"]
        headers = deadletter_headers(Refusal.UNMAPPED_LOCATION.value, "PV1-3 point of care 'X'", origin, -1, -1)
        headers += [("dlq.partner", b"hmc"), ("dlq.trigger", b"A04"), ("content-type", b"x-application/hl7-v2+er7")]
        jsonschema.validate({k: v.decode() for k, v in headers}, message["headers"])
