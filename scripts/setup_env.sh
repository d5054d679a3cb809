#!/usr/bin/env bash
# Creates .venv (once), installs torch==2.13.0 when torch is missing, then this package.
# Sourced by run_demo.sh and run_tests.sh; a second run reuses everything already installed.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${USD_VENV:-$REPO/.venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || { echo "error: Python >= 3.10 is needed (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
  echo "[setup] creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

# torch first and pinned: a bare 'torch' requirement would pull the newest CUDA build (gigabytes).
if ! "$VPY" -c 'import torch' >/dev/null 2>&1; then
  echo "[setup] installing torch==2.13.0"
  "$VPY" -m pip install --disable-pip-version-check -q torch==2.13.0
fi

# Reinstall the package only when setup.py changed since the last install.
STAMP="$VENV/.usd_setup_stamp"
WANT="$(sha256sum "$REPO/setup.py" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ] || ! "$VPY" -c 'import unisegdiff_pipeline' >/dev/null 2>&1; then
  echo "[setup] installing unisegdiff-pipeline and its dependencies"
  "$VPY" -m pip install --disable-pip-version-check -q -e "$REPO[test]"
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
