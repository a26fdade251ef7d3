"""Fill the box's disk quota with files under the output limit each, until ENOSPC; print "full".

A correct sandbox keeps the program's ENOSPC inside the box: the run ends normally (OK) and the next
run in a fresh box has its whole quota again. Capped, so a sandbox without a quota spares its host;
reaching the cap, it says how much it wrote and where (checks/exhaustion.py names the missing quota).
"""

import errno
import os

CHUNK = b"\0" * (256 * 1024)
CAP = 512 * 1024 * 1024
written = n = 0
try:
    while written < CAP:
        with open(f"fill-{n}", "wb") as f:
            for _ in range(2):  # 512 KiB a file: under the output limit the stage sets
                written += f.write(CHUNK)
        n += 1
except OSError as e:
    if e.errno not in (errno.ENOSPC, errno.EDQUOT):
        raise
for i in range(n + 1):  # stdout lives in the box too: make room before printing
    if os.path.exists(f"fill-{i}"):
        os.unlink(f"fill-{i}")
print("full" if written < CAP else f"no quota: wrote {written} bytes to {os.getcwd()} without ENOSPC")
