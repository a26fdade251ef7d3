"""Open fds until EMFILE, then print "emfile": the fd limit is reached inside the box, the run ends OK."""

import errno
import os

fds = []
try:
    while len(fds) < 1_000_000:
        fds.append(os.open(".", os.O_RDONLY))
except OSError as e:
    if e.errno != errno.EMFILE:
        raise
print("emfile" if len(fds) < 1_000_000 else "no limit")
