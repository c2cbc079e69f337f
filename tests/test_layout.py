"""The layout stays readable and light: no product module grows past what a newcomer reads
in one go, and a command loads only what it uses."""

from __future__ import annotations

from streams.settings import ROOT

PACKAGES = ("adapters", "processors", "simulator", "streams", "topics")
MAX_LINES = 600


def test_no_product_module_is_over_600_lines() -> None:
    long = {str(path.relative_to(ROOT)): n
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by concern (architecture.md): {long}"


def test_the_cli_starts_without_the_partner_adapters() -> None:
    """Every command, a worker's restart among them, starts through streams.cli: the
    FHIR models (~0.3-1 s to import) are loaded only by the commands that map messages."""
    import subprocess
    import sys

    probe = "import sys, streams.cli; print(sorted(m for m in sys.modules if m.startswith(('fhir', 'hl7', 'adapters.fhir'))))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
