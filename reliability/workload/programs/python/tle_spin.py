# TLE by CPU: spins forever.
counter = 0
while True:
    counter += 1
