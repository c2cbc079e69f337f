"""Which implementation of the domain core's hot modules runs: the same sources
compiled with mypyc when they are built, or the sources themselves.

The compiled modules are built by `scripts/compile_core.py` (run by the install,
`scripts/bootstrap.sh`) into `build/compiled-core-{python}/`, outside the source tree:
extension modules next to their sources would be imported in their place by every
process, the tests' included, and a source edited after the build would silently not
be what runs. Here a process takes them only if they were built from the sources as
they are now (a digest of every source of `processors/` and `topics/`), as
`SPOEDSTROOM_CORE` says:

- `auto` (the default): the compiled modules when such a build is there, else the
  sources (a machine without a compiler, a source edited since the build);
- `compiled`: the compiled modules, or the import fails and says what to run;
- `source`: the sources (the tests' own process: tests/conftest.py).

The output is the same byte for byte (tests/processors/test_compiled_core.py); a replay
runs ~1.4x faster (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / f"compiled-core-{sys.implementation.cache_tag}"
STAMP = BUILD / "sources.sha256"
SETTING = "SPOEDSTROOM_CORE"
EXTENSION_SUFFIX = str(sysconfig.get_config_var("EXT_SUFFIX"))  # this Python's, e.g. .cpython-311-x86_64-linux-gnu.so
PACKAGES = ("processors", "topics")
# The modules compiled: where a replay spends its time, and what they call. Left out:
# topics/event.py (the validator builds Events with object.__new__, which a compiled
# class refuses) and the modules around the core's loop (replay, nation, backtest,
# nowcast's report), which do not type-check as mypyc needs and cost little.
MODULES = (
    "processors/alerts.py", "processors/clockguard.py", "processors/contribution.py",
    "processors/crowding.py", "processors/doorstroom.py", "processors/emission.py",
    "processors/entities.py", "processors/escalation.py", "processors/evaluation.py",
    "processors/index.py", "processors/ingress.py", "processors/instroom.py",
    "processors/nowcast.py", "processors/nowcast_region.py", "processors/output.py",
    "processors/region.py", "processors/reorder.py", "processors/rules.py",
    "processors/scheduler.py", "processors/snapshot.py", "processors/state.py",
    "processors/thinning.py", "processors/uitstroom.py", "processors/view.py",
    "processors/windows.py",
    "topics/codec.py", "topics/envelope.py", "topics/validation.py",
)


class CompiledCoreError(RuntimeError):
    """The compiled core was asked for and is missing or older than the sources."""


def sources_digest() -> str:
    """A digest of every source the compiled modules were built from (the compiled
    code also holds the types of the modules it imports), and of the Python's ABI."""
    digest = hashlib.sha256(EXTENSION_SUFFIX.encode() + b"\0" + " ".join(MODULES).encode())
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            digest.update(f"{package}/{path.name}".encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def extension_path(module: str) -> Path:
    """Where the build puts the extension module of `module` ("processors/region.py")."""
    return BUILD / (module.removesuffix(".py") + EXTENSION_SUFFIX)


def stamp() -> tuple[str, str] | None:
    """The build's stamp: the sources' digest and the mypy it was built with (None: no build)."""
    if not STAMP.is_file():
        return None
    digest, _, mypy = STAMP.read_text().partition("\n")
    return digest.strip(), mypy.strip()


def built() -> bool:
    """The compiled core is built, whole, from the sources as they are now."""
    found = stamp()
    return found is not None and found[0] == sources_digest() and all(extension_path(m).is_file() for m in MODULES)


MODES = ("auto", "compiled", "source")


def mode() -> str:
    """What SPOEDSTROOM_CORE asks for (empty: `auto`)."""
    value = os.environ.get(SETTING) or "auto"
    if value not in MODES:
        raise CompiledCoreError(f"{SETTING} must be one of {', '.join(MODES)}, not {value[:40]!r}")
    return value


def use(package: str, package_path: list[str]) -> None:
    """Called by the `processors` and `topics` packages as they load: their compiled
    modules come first when SPOEDSTROOM_CORE allows and they are built from these sources."""
    asked = mode()
    if asked == "source":
        return
    if not built():
        if asked == "auto":
            return
        if stamp() is None:
            raise CompiledCoreError(f"{SETTING}=compiled, but the compiled core is not built: run "
                                    f"scripts/compile_core.py (or unset {SETTING})")
        raise CompiledCoreError(f"{SETTING}=compiled, but the compiled core is not built whole from the sources as "
                                f"they are now (a source changed, or a build was cut short): run "
                                f"scripts/compile_core.py (or unset {SETTING})")
    if str(BUILD) not in sys.path:
        sys.path.append(str(BUILD))  # the compiled modules' shared library, a top-level module
    package_path.insert(0, str(BUILD / package))


def active() -> str:
    """'compiled' when this process runs the compiled core, else 'source'."""
    import processors.region

    return "compiled" if processors.region.__file__ and not processors.region.__file__.endswith(".py") else "source"
