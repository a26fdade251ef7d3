# MLE: allocates 16 MiB chunks without bound until the cgroup's OOM killer ends it. Multiplying a
# non-zero byte writes every page; bytearray(n) would map untouched zero pages and not grow RSS.
kept = []
while True:
    kept.append(b"\x01" * (16 << 20))
