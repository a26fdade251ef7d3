# TLE by wall time (or killed from outside): waits forever using no CPU.
import time

while True:
    time.sleep(1_000_000)
