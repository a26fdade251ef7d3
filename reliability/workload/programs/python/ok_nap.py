# OK after a short nap: wall-clock bound, almost no CPU (the concurrency stage's filler).
import time

time.sleep(4.0)
print("napped")
