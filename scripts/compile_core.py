"""Compile the domain core's hot modules with mypyc (topics/compiled.py says which, where
they go and how a process asks for them).

    python scripts/compile_core.py          build, unless the build is up to date
    python scripts/compile_core.py --clean  remove the build

Run by scripts/bootstrap.sh. Needs mypy (which carries mypyc; the `compiled` extra pins
it), a C compiler and the Python headers. The sources are copied to a staging folder and
compiled there, so that no extension module ever lands next to a source; only the
extension modules are then moved to the build folder. About a minute from scratch on
a 2-core machine, seconds when only a few sources changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.pop("SPOEDSTROOM_CORE", None)  # this process imports the sources
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topics.compiled import (  # noqa: E402
    BUILD,
    EXTENSION_SUFFIX,
    MODULES,
    PACKAGES,
    ROOT,
    STAMP,
    built,
    extension_path,
    sources_digest,
    stamp,
)

STAGING = BUILD.parent / f"{BUILD.name}-staging"


def mypy_version() -> str:
    from importlib.metadata import version

    return version("mypy")


def clean() -> None:
    STAMP.unlink(missing_ok=True)  # first: a clean cut short leaves no stamp beside part of a build
    shutil.rmtree(BUILD, ignore_errors=True)


def build() -> int:
    mypy = mypy_version()
    if built() and stamp() == (sources_digest(), mypy):
        print("compiled core: up to date")
        return 0
    digest = sources_digest()  # of the sources as they are when the copy is taken
    started = time.monotonic()
    clean()
    for package in PACKAGES:  # the staging copy follows the sources (kept: mypyc reuses its C files)
        target = STAGING / package
        target.mkdir(parents=True, exist_ok=True)
        for old in target.iterdir():
            if old.is_file():
                old.unlink()
        for source in (ROOT / package).glob("*.py"):
            shutil.copy2(source, target / source.name)
    done = subprocess.run([sys.executable, "-m", "mypyc", "--ignore-missing-imports", *MODULES], cwd=STAGING)
    if done.returncode != 0:
        print("compiled core: mypyc failed (above)", file=sys.stderr)
        return done.returncode
    moved = 0
    for path in STAGING.rglob("*" + EXTENSION_SUFFIX):
        relative = path.relative_to(STAGING)
        if relative.parts[0] != "build":  # mypyc's own copies under build/
            (BUILD / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), BUILD / relative)
            moved += 1
    missing = [m for m in MODULES if not extension_path(m).is_file()]
    if missing:
        print(f"compiled core: no extension module for {', '.join(missing)}", file=sys.stderr)
        clean()
        return 1
    STAMP.write_text(f"{digest}\n{mypy}\n")  # last: a stamp means a whole build
    print(f"compiled core: {len(MODULES)} modules ({moved} extension modules, mypy {mypy}) "
          f"in {time.monotonic() - started:.0f} s")
    return 0


def main(argv: list[str]) -> int:
    if "--clean" in argv:
        clean()
        return 0
    return build()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
