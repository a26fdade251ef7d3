// TLE by CPU: spins forever. The field is volatile so every increment is a real memory write.
public class TleSpin {
    static volatile long counter;

    public static void main(String[] args) {
        while (true) counter++;
    }
}
