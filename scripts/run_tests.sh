#!/usr/bin/env bash
# Sets everything up, then runs the test suite. Extra arguments go to pytest.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/setup_env.sh"
cd "$REPO"
set +e
python -m pytest "$@"
rc=$?
set -e
# pytest exit code 5 means no tests were collected: that is a failure here, never a pass.
if [ "$rc" -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi
exit "$rc"
