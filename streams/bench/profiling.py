"""py-spy sampling of a worker (optional: py-spy is not a project dependency)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def py_spy_binary() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def start_py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    binary = py_spy_binary()
    if binary is None:
        return None
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
         "--format", "raw", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def summarize_py_spy(path: Path, top: int = 15) -> dict[str, Any] | None:
    """Self and inclusive shares per function from py-spy's collapsed stacks."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    total = 0
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    for line in lines:
        stack, _, count = line.rpartition(" ")
        try:
            c = int(count)
        except ValueError:
            continue
        frames = [_short_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += c
        own[frames[-1]] = own.get(frames[-1], 0) + c
        for f in set(frames):
            incl[f] = incl.get(f, 0) + c
    if not total:
        return None

    def ranked(d: dict[str, int]) -> list[dict[str, Any]]:
        return [{"function": k, "share": round(v / total, 4)} for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

    return {"tool": "py-spy record --nonblocking --rate 100", "samples": total, "top_self": ranked(own),
            "top_inclusive": ranked({k: v for k, v in incl.items() if not k.startswith(("<module>", "main ", "run "))}),
            "raw": str(path)}


def _short_frame(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py:123)"; idle/native frames kept
    m = re.match(r"^(.*) \((.*?):?(\d*)\)$", frame)
    if not m:
        return frame
    fn, path, line = m.groups()
    parts = Path(path).parts
    for anchor in ("site-packages", "main"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1:]
            break
    short = "/".join(parts[-3:])
    return f"{fn} ({short}:{line})" if line else f"{fn} ({short})"
