"""A minimal CLI sandbox for tests: box = a plain directory, no isolation, optional flock per box.

dirbox.py init BOX_DIR | cleanup BOX_DIR | run LOCK BOX_DIR WALL_S [--file SRC:NAME]... -- COMMAND...
With LOCK=0 it has no locks at all: the lock-less target the locks stage must fail (two runs in one
box at once). With LOCK=1 a run holds flock(BOX_DIR.lock) from copying its files to its end.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

action, box_dir = sys.argv[1], sys.argv[-1] if sys.argv[1] != "run" else sys.argv[3]
if action == "init":
    os.makedirs(box_dir, exist_ok=True)
    os.chmod(box_dir, 0o755)
elif action == "cleanup":
    pass  # the directory stays: a cleanup would pull it from under a concurrent run of a lock-less box
elif action == "run":
    lock, wall_s, rest = sys.argv[2] == "1", float(sys.argv[4]), sys.argv[5:]
    split = rest.index("--")
    files, command = rest[:split], rest[split + 1 :]
    if lock:
        fd = os.open(box_dir + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
    for spec in files[1::2]:
        src, name = spec.rsplit(":", 1)
        shutil.copyfile(src, os.path.join(box_dir, name))
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=box_dir, capture_output=True, text=True, timeout=wall_s)
        verdict = "OK" if done.returncode == 0 else "RE"
        out = {"verdict": verdict, "exit_code": done.returncode, "stdout": done.stdout, "message": ""}
    except subprocess.TimeoutExpired:
        out = {"verdict": "TLE", "exit_code": None, "stdout": "", "message": "wall time"}
    out["wall_s"] = time.monotonic() - started
    print(json.dumps(out))
