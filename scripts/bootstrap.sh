#!/usr/bin/env bash
# Shared set-up for the two commands: a project virtualenv with Spoedstroom and its
# pinned dependencies. Idempotent and quick when nothing changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SPOEDSTROOM_VENV:-$ROOT/.venv}"
EXTRAS="${1:-embedded}"
PY="${PYTHON:-python3}"

if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "spoedstroom: Python >= 3.11 is required (found: $("$PY" --version 2>&1 || echo none))" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.spoedstroom-$EXTRAS.stamp"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  echo "==> installing spoedstroom[$EXTRAS] into $VENV"
  LOG="$VENV/install.log"
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -e "$ROOT[$EXTRAS]" >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    echo "spoedstroom: installing the Python packages failed (full log: $LOG)" >&2
    exit 2
  fi
  touch "$STAMP"
fi

# The domain core compiled with mypyc (topics/compiled.py): built for the tests, which
# check it against the sources byte for byte, and whenever SPOEDSTROOM_CORE=compiled asks
# for it. About a minute the first time; nothing when the sources did not change.
if [ "$EXTRAS" = test ] || [ "${SPOEDSTROOM_CORE:-source}" = compiled ]; then
  if ! "$VENV/bin/python" -c 'import mypyc, setuptools' 2>/dev/null; then
    echo "==> installing spoedstroom[compiled] (mypyc) into $VENV"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -e "$ROOT[compiled]" >>"$VENV/install.log" 2>&1; then
      tail -n 30 "$VENV/install.log" >&2
      echo "spoedstroom: installing mypy (mypyc) failed (full log: $VENV/install.log)" >&2
      exit 2
    fi
  fi
  LOG="$VENV/compile-core.log"
  if ! "$VENV/bin/python" "$ROOT/scripts/compile_core.py" >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    echo "spoedstroom: compiling the domain core with mypyc failed (full log: $LOG; it needs gcc and the Python headers)" >&2
    exit 2
  fi
  tail -n 1 "$LOG"
fi
