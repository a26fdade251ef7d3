#!/bin/sh
# box.sh ROOT CGROUP ACTION ARGS...: the built-in sandbox's CLI, one JSON object per call (docs/targets.md).
root=$1; cgroup=$2; action=$3; shift 3
exec "${PYTHON:-python3}" -m reliability box "$action" --root "$root" --cgroup-name "$cgroup" "$@"
