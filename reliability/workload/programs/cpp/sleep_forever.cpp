// TLE by wall time (or killed from outside): waits forever using no CPU.
#include <unistd.h>

int main() {
    for (;;) pause();
}
