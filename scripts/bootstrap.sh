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

# The domain core compiled with mypyc (topics/compiled.py): what runs by default
# (SPOEDSTROOM_CORE=auto) once built; the tests check it against the sources byte for
# byte. About a minute the first time; nothing when the sources did not change. It needs
# gcc and the Python headers: without them the tests (and SPOEDSTROOM_CORE=compiled)
# stop here, the demo goes on with the sources. SPOEDSTROOM_CORE=source skips it.
CORE="${SPOEDSTROOM_CORE:-auto}"
if [ "$CORE" != source ]; then
  REQUIRED=no
  if [ "$EXTRAS" = test ] || [ "$CORE" = compiled ]; then REQUIRED=yes; fi
  fail() {
    if [ "$REQUIRED" = yes ]; then
      tail -n 30 "$2" >&2
      echo "spoedstroom: $1 (full log: $2)" >&2
      exit 2
    fi
    echo "==> $1 (log: $2): the domain core runs from its sources" >&2
  }
  COMPILE=yes
  if ! "$VENV/bin/python" -c 'import mypyc, setuptools' 2>/dev/null; then
    echo "==> installing spoedstroom[compiled] (mypyc) into $VENV"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -e "$ROOT[compiled]" >>"$VENV/install.log" 2>&1; then
      fail "installing mypy (mypyc) failed" "$VENV/install.log"
      COMPILE=no
    fi
  fi
  if [ "$COMPILE" = yes ]; then
    LOG="$VENV/compile-core.log"
    if "$VENV/bin/python" "$ROOT/scripts/compile_core.py" >"$LOG" 2>&1; then
      tail -n 1 "$LOG"
    else
      fail "compiling the domain core with mypyc failed (it needs gcc and the Python headers)" "$LOG"
    fi
  fi
fi
