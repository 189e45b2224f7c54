#!/usr/bin/env bash
# Validates compose.yaml with Docker Compose v2 when it is installed; a
# machine without it skips the check (and says so) rather than failing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker compose version >/dev/null 2>&1; then
  echo "compose check skipped: no docker compose"
  exit 0
fi
docker compose -f compose.yaml config -q
echo "compose check: compose.yaml is valid"
