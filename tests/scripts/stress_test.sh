#!/usr/bin/env bash
# QA-REL-001 section 1: ./tests/scripts/stress_test.sh --duration 3600 --submissions 10000 [more flags]
# A thin wrapper: the same code as `nox -s stress` and `reliability run stress`.
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=(--profile release)
for arg in "$@"; do [[ "$arg" == --profile* ]] && profile=(); done
exec python3 -m reliability run stress "${profile[@]}" "$@"
