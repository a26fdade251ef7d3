// TLE by wall time (or killed from outside): waits forever using no CPU.
public class SleepForever {
    public static void main(String[] args) throws InterruptedException {
        while (true) Thread.sleep(1_000_000L);
    }
}
