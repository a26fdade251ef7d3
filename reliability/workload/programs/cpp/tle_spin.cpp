// TLE by CPU: spins forever. The counter is volatile so the loop is a real side effect, not UB.
int main() {
    volatile unsigned long long n = 0;
    for (;;) ++n;
}
