#!/usr/bin/env bash
# Sets everything up, then runs the main job on the embedded synthetic dataset:
# convert, plan (cpu preset), train fold 0, predict unseen images, evaluate, print the table.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/setup_env.sh"
cd "$REPO"
exec usd_demo "$@"
