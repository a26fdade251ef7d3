// RE: writes through a null pointer (SIGSEGV). The address is volatile so the compiler cannot
// turn the known-null store into a trap instruction (SIGILL) instead.
#include <cstdint>

int main() {
    volatile std::uintptr_t address = 0;
    *reinterpret_cast<volatile int*>(address) = 1;
    return 0;
}
