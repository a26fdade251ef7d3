#!/bin/sh
# box.sh ROOT CGROUP DEFECTS ACTION ARGS...: the built-in sandbox's CLI (one JSON object per call), the
# box.sh of docs/targets.md with one more argument: DEFECTS, a comma-separated list (may be empty) of
# bugs to switch on, so the checks can be shown failing through a described target:
#   orphans           the program and the sandbox's inner supervisor outlive a killed CLI, unbounded
#   no_run_lock       no box lock taken: runs overlap in one box
#   leave_box_cgroup  the box cgroup made again after a cleanup that said ok
#   leave_box_dir     the box directory made again after a cleanup that said ok
#   wrong_verdict     an OK run reported as RE
#   slowdown          every init waits longer than the one before (N*N*8 ms for the N-th)
#   allow_namespaces  the program runs without the seccomp filter: it can create namespaces
#   dirty_clean       a cleanup of a box that was never initialised leaves its directory behind
# Without defects the script execs the CLI: the process the pipeline starts (and the crash stage kills)
# is the sandbox itself, as in docs/targets.md. $PYTHON is the interpreter with this package.
# ACTION start and stop (the target file's start/stop commands, around a stage's runs) start and stop
# the refbox's resident server; while it is up, each command goes through its client, which costs a
# millisecond where the CLI's start costs over 100 ms of CPU (refbox/server.py).
root=$1; cgroup=$2; defects=$3; action=$4; shift 4
serve=$root.serve
case $action in
  start) exec "$PYTHON" -m reliability box serve --dir "$serve" ;;
  stop) exec "$PYTHON" -m reliability box serve --dir "$serve" --stop ;;
esac
# `box ARGS`: the refbox's command, through the server's client while it is up (the client runs the
# CLI itself when the server has gone).
box() {
  if [ -x "$serve/client" ]; then "$serve/client" "$serve/socket" "$PYTHON" "$@"; else "$PYTHON" -m reliability box "$@"; fi
}

has() { case ",$defects," in *",$1,"*) return 0 ;; esac; return 1; }

points=
for defect in $(echo "$defects" | tr , ' '); do
  case $defect in
    orphans) points=$points,defect.keep_orphans ;;
    no_run_lock) points=$points,defect.skip_lock ;;
    leave_box_cgroup) points=$points,defect.leave_cgroup ;;  # the refbox's own: box-N made again
    wrong_verdict) points=$points,defect.wrong_verdict ;;
    allow_namespaces) points=$points,defect.allow_namespaces ;;
    leave_box_dir | slowdown | dirty_clean) ;;  # done by this script, below
    *) echo "box.sh: unknown defect '$defect'" >&2; exit 2 ;;
  esac
done
if [ -n "$points" ]; then
  export REFBOX_FAILPOINTS="${points#,}"
fi

if has slowdown && [ "$action" = init ]; then
  # The N-th init of the run waits N*N*8 ms: 8 s by the 32nd. Quadratic, so the late runs wait seconds
  # more than the early ones (above the noise of a loaded host's CLI calls, seconds each) for a small
  # total; in init, which the pipeline times as part of the run (started before init) with no tight
  # guard (the run command's hang guard is wall + 10 s). One line per init so far, in a file beside
  # the box root (inside it, it would be a leaked temp dir).
  count="$root.runs"
  echo >>"$count"
  n=$(wc -l <"$count")
  ms=$((n * n * 8))
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
fi

if has dirty_clean && [ "$action" = cleanup ] && [ ! -e "$root/$2" ]; then
  # ARGS are "--box N": a box never initialised gets a directory from its cleanup (isolate 1.10.1 does).
  box cleanup --root "$root" --cgroup-name "$cgroup" "$@" || exit
  exec mkdir -p "$root/$2"
fi

if has leave_box_dir && [ "$action" = cleanup ]; then
  # ARGS are "--box N": once the sandbox says the box is clean, its directory comes back.
  box cleanup --root "$root" --cgroup-name "$cgroup" "$@" || exit
  exec mkdir -p "$root/$2"
fi

if [ -x "$serve/client" ]; then
  exec "$serve/client" "$serve/socket" "$PYTHON" "$action" --root "$root" --cgroup-name "$cgroup" "$@"
fi
exec "$PYTHON" -m reliability box "$action" --root "$root" --cgroup-name "$cgroup" "$@"
