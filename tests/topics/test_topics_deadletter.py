"""The dead-letter copy of a record (topics.validation.deadletter_record), by hand."""

from __future__ import annotations

from topics.validation import deadletter_headers, deadletter_record

ADDED = deadletter_headers("too_large", "value is 2000000 bytes", "acute.admissions", 3, 17)


def test_value_key_and_every_original_header_are_kept() -> None:
    original = [("ce_id", b"e-1"), ("ce_source", b"/partners/hmc"), ("content-type", b"application/json"),
                ("traceparent", b"00-ab-cd-01"), ("dlq.reason", b"schema")]
    value, headers = deadletter_record(b"hmc", b'{"x":1}', original, ADDED, 1_000_000)
    assert value == b'{"x":1}'
    assert headers[:4] == original[:4]  # an earlier verdict (dlq.reason) is replaced
    assert headers[4:] == ADDED
    assert dict(headers)["dlq.reason"] == b"too_large"


def test_a_copy_above_the_limit_keeps_its_first_bytes() -> None:
    big = b"x" * 2_000_000
    value, headers = deadletter_record(b"hmc", big, [("ce_id", b"e-1")], ADDED, 1_000_000)
    assert value is not None and big.startswith(value) and 900_000 < len(value) < 1_000_000
    h = dict(headers)
    assert h["dlq.truncated"] == b"true" and h["dlq.original_size"] == b"2000000"
    size = len(b"hmc") + len(value) + sum(len(k) + len(v) for k, v in headers)
    assert size < 1_000_000


def test_megabytes_of_headers_are_cut_too() -> None:
    original = [("ce_id", b"e-1"), ("x-huge", b"h" * 3_000_000), ("x-more", b"m" * 10)]
    value, headers = deadletter_record(b"hmc", b"{}", original, ADDED, 1_000_000)
    h = dict(headers)
    assert h["dlq.headers_truncated"] == b"true" and h["ce_id"] == b"e-1"
    assert sum(len(k) + len(v) for k, v in headers) + len(value or b"") < 1_000_000


def test_a_tombstone_stays_a_tombstone() -> None:
    value, headers = deadletter_record(b"hmc", None, None, ADDED, 1_000_000)
    assert value is None and headers == ADDED
