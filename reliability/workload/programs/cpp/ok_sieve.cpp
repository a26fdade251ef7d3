// OK: number of primes below 10^6 (a sieve: some memory and a little CPU).
#include <cstdio>
#include <vector>

int main() {
    const int n = 1000000;
    std::vector<bool> composite(n, false);
    int count = 0;
    for (int i = 2; i < n; ++i) {
        if (composite[i]) continue;
        ++count;
        for (long long j = 1LL * i * i; j < n; j += i) composite[j] = true;
    }
    std::printf("%d\n", count);
    return 0;
}
