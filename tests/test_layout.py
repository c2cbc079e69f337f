"""The layout stays readable: no product module grows past what a newcomer reads in one go."""

from __future__ import annotations

from streams.settings import ROOT

PACKAGES = ("adapters", "processors", "simulator", "streams", "topics")
MAX_LINES = 600


def test_no_product_module_is_over_600_lines() -> None:
    long = {str(path.relative_to(ROOT)): n
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by concern (architecture.md): {long}"
