"""Lock witness: leave a marker in the box, hold it a moment, and report any other run's marker seen.

Prints "alone" when no other run's marker was in the box at any point (a correct target serialises
runs in one box), else "conflict: <markers>". Run with the box as its working directory.
"""

import os
import sys
import time

HOLD_S = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3
mine = f"marker-{os.getpid()}-{time.time_ns()}"


def others() -> list:
    return sorted(n for n in os.listdir(".") if n.startswith("marker-") and n != mine)


seen = set(others())
with open(mine, "x") as f:
    f.write(mine)
deadline = time.monotonic() + HOLD_S
while time.monotonic() < deadline:
    seen.update(others())
    time.sleep(0.02)
with open(mine) as f:
    intact = f.read() == mine
os.unlink(mine)
if seen or not intact:
    print("conflict: " + " ".join(sorted(seen)) + ("" if intact else " (my marker was changed)"))
else:
    print("alone")
