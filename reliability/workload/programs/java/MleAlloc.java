// MLE: allocates and fills 16 MiB arrays without bound. It runs with -Xmx above every memory limit,
// so the cgroup's OOM killer ends it, not an OutOfMemoryError.
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public class MleAlloc {
    public static void main(String[] args) {
        List<byte[]> kept = new ArrayList<>();
        while (true) {
            byte[] chunk = new byte[16 << 20];
            Arrays.fill(chunk, (byte) 1);
            kept.add(chunk);
        }
    }
}
