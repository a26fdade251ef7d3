#!/bin/sh
# box.sh ROOT CGROUP ACTION ARGS...: the built-in sandbox's CLI, one JSON object per call (docs/targets.md),
# through the refbox's resident server while it is up (actions start and stop).
root=$1; cgroup=$2; action=$3; shift 3
python=${PYTHON:-python3}
serve=$root.serve
case $action in
  start) exec "$python" -m reliability box serve --dir "$serve" ;;
  stop) exec "$python" -m reliability box serve --dir "$serve" --stop ;;
esac
if [ -x "$serve/client" ]; then
  exec "$serve/client" "$serve/socket" "$python" "$action" --root "$root" --cgroup-name "$cgroup" "$@"
fi
exec "$python" -m reliability box "$action" --root "$root" --cgroup-name "$cgroup" "$@"
