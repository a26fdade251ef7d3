// RE: an uncaught exception (the JVM exits with status 1).
public class ReException {
    public static void main(String[] args) {
        int[] values = new int[3];
        int index = args.length + 3;
        System.out.println(values[index]);
    }
}
