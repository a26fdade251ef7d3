// RE: reports an error and exits with a non-zero status.
#include <cstdio>

int main() {
    std::fprintf(stderr, "invalid input\n");
    return 3;
}
