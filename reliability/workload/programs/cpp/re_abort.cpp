// RE: a failed internal check aborts (SIGABRT).
#include <cstdlib>

int main() {
    std::abort();
}
