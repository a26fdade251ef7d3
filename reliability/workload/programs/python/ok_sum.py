# OK: sum of i*i for i in 1..10^6, modulo 10^9+7.
print(sum(i * i for i in range(1, 1_000_001)) % 1_000_000_007)
