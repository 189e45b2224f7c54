#!/usr/bin/env bash
# Fuzz smoke run: each fuzz target for a short while (FUZZTIME, default 10s)
# on top of its committed seed corpus (testdata/fuzz/). A crash fails the
# run and leaves the failing input under that package's testdata/fuzz/ for
# `go test` to replay. Minimization is off (-fuzzminimizetime 0s): when
# -fuzztime ran out while a worker minimized a new interesting input, Go
# failed the run with "context deadline exceeded" though nothing crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-10s}"
targets=(
  "./internal/link FuzzParseRequest"
  "./internal/link FuzzCheckJSON"
  "./internal/auth FuzzVerify"
  "./internal/webhooksig FuzzVerify"
)
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "fuzz: $name in $pkg for $fuzztime"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 0s "$pkg"
done
