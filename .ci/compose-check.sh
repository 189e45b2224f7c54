#!/usr/bin/env bash
# Validates compose.yaml with Docker Compose v2 when it is installed; a
# machine without it skips this check (and says so). deploy/compose_test.go
# checks the same with compose-go, the library compose loads files with,
# on every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker compose version >/dev/null 2>&1; then
  echo "compose check skipped: no docker compose (deploy/compose_test.go still ran)"
  exit 0
fi

# Every secret is ${VAR:?…}: without them, config fails naming one.
required=$(grep -o '\${[A-Z_]*:?' compose.yaml | sed 's/^\${//; s/:?$//' | sort -u)
if out=$(env -i PATH="$PATH" HOME="$HOME" docker compose -f compose.yaml config -q 2>&1); then
  echo "compose.yaml loads without its secrets"
  exit 1
fi
if ! grep -q "required variable" <<<"$out"; then
  echo "$out"
  exit 1
fi

# With placeholder values it is valid.
args=()
for v in $required; do args+=("$v=placeholder"); done
env -i PATH="$PATH" HOME="$HOME" "${args[@]}" docker compose -f compose.yaml config -q
echo "compose check: compose.yaml is valid and demands its secrets"
