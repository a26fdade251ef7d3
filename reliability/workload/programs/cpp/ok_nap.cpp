// OK after a short nap: wall-clock bound, almost no CPU (the concurrency stage's filler).
#include <cstdio>
#include <ctime>

int main() {
    struct timespec nap = {4, 0};
    nanosleep(&nap, nullptr);
    std::printf("napped\n");
    return 0;
}
