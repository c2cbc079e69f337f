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
