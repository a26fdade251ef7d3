# OK: number of primes below 10^6 (a sieve: some memory and a little CPU).
n = 1_000_000
is_prime = bytearray([1]) * n
is_prime[0] = is_prime[1] = 0
for i in range(2, int(n**0.5) + 1):
    if is_prime[i]:
        is_prime[i * i :: i] = bytes(len(range(i * i, n, i)))
print(sum(is_prime))
