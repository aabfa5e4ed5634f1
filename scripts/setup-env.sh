#!/usr/bin/env bash
# Creates (or reuses) the virtual environment and installs techmatch into it.
# Usage: source scripts/setup-env.sh [extras]   e.g. "test" or "test,st" (st: torch + sentence-transformers)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TECHMATCH_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtual environment in $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
echo "==> installing techmatch${EXTRAS:+[$EXTRAS]}"
case ",$EXTRAS," in
  *,st,*)
    # torch first and pinned (the st extra: sentence-transformers models, float16 dense rows): several GB
    echo "==> installing torch 2.13.0 for the st extra"
    "$VENV/bin/python" -m pip install -q "torch==2.13.0"
    ;;
esac
if [ -n "$EXTRAS" ]; then
  "$VENV/bin/python" -m pip install -q -e "$ROOT[$EXTRAS]"
else
  "$VENV/bin/python" -m pip install -q -e "$ROOT"
fi
export PATH="$VENV/bin:$PATH"
