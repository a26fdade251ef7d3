#!/usr/bin/env bash
# QA-REL-001 section 5: ./tests/scripts/resource_exhaustion.sh [more flags, e.g. --profile quick]
# A thin wrapper: the same code as `nox -s exhaustion` and `reliability run exhaustion`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/find_reliability.sh
profile=(--profile release)
for arg in "$@"; do [[ "$arg" == --profile* ]] && profile=(); done
exec "${RELIABILITY[@]}" run exhaustion "${profile[@]}" "$@"
