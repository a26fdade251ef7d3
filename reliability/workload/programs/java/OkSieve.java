// OK: number of primes below 10^6 (a sieve: some memory and a little CPU).
public class OkSieve {
    public static void main(String[] args) {
        final int n = 1_000_000;
        boolean[] composite = new boolean[n];
        int count = 0;
        for (int i = 2; i < n; i++) {
            if (composite[i]) continue;
            count++;
            for (long j = (long) i * i; j < n; j += i) composite[(int) j] = true;
        }
        System.out.println(count);
    }
}
