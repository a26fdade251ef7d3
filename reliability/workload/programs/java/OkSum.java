// OK: sum of i*i for i in 1..10^6, modulo 10^9+7.
public class OkSum {
    public static void main(String[] args) {
        final long mod = 1_000_000_007L;
        long total = 0;
        for (long i = 1; i <= 1_000_000L; i++) total = (total + i * i) % mod;
        System.out.println(total);
    }
}
