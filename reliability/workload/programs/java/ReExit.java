// RE: reports an error and exits with a non-zero status.
public class ReExit {
    public static void main(String[] args) {
        System.err.println("invalid input");
        System.exit(3);
    }
}
