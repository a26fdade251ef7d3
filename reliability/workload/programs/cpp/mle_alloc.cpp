// MLE: allocates and touches 16 MiB chunks without bound until the cgroup's OOM killer ends it.
#include <cstdlib>
#include <cstring>

// Publishing each chunk through a volatile global keeps the compiler from eliding the allocation.
static char* volatile last_chunk;

int main() {
    const std::size_t chunk = 16u << 20;
    for (;;) {
        char* p = static_cast<char*>(std::malloc(chunk));
        if (p == nullptr) return 3;  // only where memory is limited by address space, not a cgroup
        std::memset(p, 1, chunk);
        last_chunk = p;
    }
}
