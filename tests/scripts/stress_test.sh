#!/usr/bin/env bash
# QA-REL-001 section 1: ./tests/scripts/stress_test.sh --duration 3600 --submissions 10000 [more flags]
# A thin wrapper: the same code as `nox -s stress` and `reliability run stress`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/find_reliability.sh
profile=(--profile release)
for arg in "$@"; do [[ "$arg" == --profile* ]] && profile=(); done
exec "${RELIABILITY[@]}" run stress "${profile[@]}" "$@"
