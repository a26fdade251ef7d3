#!/usr/bin/env bash
# QA-REL-001 section 6: ./tests/scripts/leak_check_stress.sh --iterations 1000 [more flags]
# A thin wrapper: the same code as `nox -s leaks` and `reliability run leaks`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/find_reliability.sh
profile=(--profile release)
for arg in "$@"; do [[ "$arg" == --profile* ]] && profile=(); done
exec "${RELIABILITY[@]}" run leaks "${profile[@]}" "$@"
