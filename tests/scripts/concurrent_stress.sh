#!/usr/bin/env bash
# QA-REL-001 section 2: ./tests/scripts/concurrent_stress.sh --duration 1800 --concurrency 100 [more flags]
# A thin wrapper: the same code as `nox -s concurrent` and `reliability run concurrent`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/find_reliability.sh
profile=(--profile release)
for arg in "$@"; do [[ "$arg" == --profile* ]] && profile=(); done
exec "${RELIABILITY[@]}" run concurrent "${profile[@]}" "$@"
