"""The dead-letter copy of a record (topics.validation.deadletter_record), by hand."""

from __future__ import annotations

from topics.validation import deadletter_headers, deadletter_record

ADDED = deadletter_headers("too_large", "value is 2000000 bytes", "acute.admissions", 3, 17)


def test_value_key_and_every_original_header_are_kept() -> None:
    original = [("ce_id", b"e-1"), ("ce_source", b"/partners/hmc"), ("content-type", b"application/json"),
                ("traceparent", b"00-ab-cd-01"), ("dlq.reason", b"schema")]
    key, value, headers = deadletter_record(b"hmc", b'{"x":1}', original, ADDED, 1_000_000)
    assert key == b"hmc" and value == b'{"x":1}'
    assert headers[:4] == original[:4]  # an earlier verdict (dlq.reason) is replaced
    assert headers[4:] == ADDED
    assert dict(headers)["dlq.reason"] == b"too_large"


def test_a_copy_above_the_limit_keeps_its_first_bytes() -> None:
    big = b"x" * 2_000_000
    _key, value, headers = deadletter_record(b"hmc", big, [("ce_id", b"e-1")], ADDED, 1_000_000)
    assert value is not None and big.startswith(value) and 900_000 < len(value) < 1_000_000
    h = dict(headers)
    assert h["dlq.truncated"] == b"true" and h["dlq.original_size"] == b"2000000"
    size = len(b"hmc") + len(value) + sum(len(k) + len(v) for k, v in headers)
    assert size < 1_000_000


def test_megabytes_of_headers_are_cut_too() -> None:
    original = [("ce_id", b"e-1"), ("x-huge", b"h" * 3_000_000), ("x-more", b"m" * 10)]
    _key, value, headers = deadletter_record(b"hmc", b"{}", original, ADDED, 1_000_000)
    h = dict(headers)
    assert h["dlq.headers_truncated"] == b"true" and h["ce_id"] == b"e-1"
    assert sum(len(k) + len(v) for k, v in headers) + len(value or b"") < 1_000_000


def test_a_tombstone_stays_a_tombstone() -> None:
    _key, value, headers = deadletter_record(b"hmc", None, None, ADDED, 1_000_000)
    assert value is None and headers == ADDED


def _size(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> int:
    """The copy's bytes as the producer counts them, with Kafka's per-header framing."""
    return len(key or b"") + len(value or b"") + sum(len(k.encode()) + len(v) + 16 for k, v in headers)


def test_a_key_of_a_megabyte_keeps_its_first_bytes() -> None:
    """Before: the key was copied whole, the producer refused the copy, and the reader
    stopped on the record every time it was read (a crash loop)."""
    key = b"K" * 999_800
    copy = deadletter_record(key, b"[]", None, ADDED, 1_000_000)
    assert copy.key == key[:250_000] and copy.value == b"[]"
    h = dict(copy.headers)
    assert h["dlq.key_truncated"] == b"true" and h["dlq.original_key_size"] == b"999800"
    assert _size(*copy) <= 1_000_000 - 512  # the rest is the batch's own framing


def test_thousands_of_long_header_names_are_left_out_beyond_the_budget() -> None:
    """Before: only the values were cut, every name (256 characters each) and the
    framing of 5,000 headers still went out: 1.3 MB, refused, a crash loop."""
    original = [(f"h{n:05d}" + "x" * 244, b"") for n in range(5_000)]
    copy = deadletter_record(b"hmc", b"{not json", original, ADDED, 1_000_000)
    kept = [k for k, _v in copy.headers if k.startswith("h")]
    assert 500 < len(kept) < 5_000 and kept == [k for k, _v in original[:len(kept)]]
    assert dict(copy.headers)["dlq.headers_truncated"] == b"true" and copy.value == b"{not json"
    assert _size(*copy) <= 1_000_000 - 512  # the rest is the batch's own framing
    assert copy.headers[-len(ADDED):] == ADDED


def test_everything_hostile_at_once_still_fits_one_record() -> None:
    original = [(f"n{n}" + "\u00e9" * 200, b"v" * 3_000) for n in range(2_000)]
    copy = deadletter_record(b"k" * 2_000_000, b"x" * 2_000_000, original, ADDED, 1_000_000)
    assert _size(*copy) <= 1_000_000 - 512  # the rest is the batch's own framing
    h = dict(copy.headers)
    assert h["dlq.key_truncated"] == h["dlq.headers_truncated"] == h["dlq.truncated"] == b"true"
