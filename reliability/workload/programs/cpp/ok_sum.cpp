// OK: sum of i*i for i in 1..10^6, modulo 10^9+7.
#include <cstdio>

int main() {
    const unsigned long long mod = 1000000007ULL;
    unsigned long long total = 0;
    for (unsigned long long i = 1; i <= 1000000ULL; ++i) total = (total + i * i) % mod;
    std::printf("%llu\n", total);
    return 0;
}
