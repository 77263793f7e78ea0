#include "cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace lofi {

bool cpu_kernels_vectorised() {
    static const bool vectorised = [] {
        const char *forced = std::getenv("LOFI_CPU_KERNELS");
        if (forced != nullptr && std::strcmp(forced, "portable") == 0) {
            return false;
        }
#if defined(__x86_64__) || defined(__i386__)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
        return false;
#endif
    }();
    return vectorised;
}

const char *cpu_kernels_name() { return cpu_kernels_vectorised() ? "avx2" : "portable"; }

} // namespace lofi
