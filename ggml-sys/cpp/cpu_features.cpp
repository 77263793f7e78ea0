#include "cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <iterator>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace lofi {

namespace {

// Whether this ARM CPU has Armv8.2-A's dot products (the kernel reports it: an instruction that
// is not there would fault).
bool arm_dot_products() {
#if defined(__aarch64__) && defined(__linux__)
    constexpr unsigned long kAsimdDotProduct = 1UL << 20; // HWCAP_ASIMDDP
    return (getauxval(AT_HWCAP) & kAsimdDotProduct) != 0;
#elif defined(__aarch64__) && defined(__APPLE__)
    int present = 0;
    size_t size = sizeof(present);
    return sysctlbyname("hw.optional.arm.FEAT_DotProd", &present, &size, nullptr, 0) == 0 && present != 0;
#else
    return false;
#endif
}

// LOFI_CPU_KERNELS's level; the highest when unset or unknown.
CpuKernels cap() {
    CpuKernels level = std::end(kCpuKernelLevels)[-1];
    const char *forced = std::getenv("LOFI_CPU_KERNELS");
    if (forced != nullptr) {
        cpu_kernels_named(forced, level);
    }
    return level;
}

} // namespace

const bool kNextBlockToL1 = [] {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init(); // a static initialiser may run before libgcc's
    return !__builtin_cpu_is("amd");
#else
    return true;
#endif
}();

bool cpu_runs(CpuKernels level) {
#if defined(__x86_64__) || defined(__i386__)
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    switch (level) {
    case CpuKernels::avx512_vnni:
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
    case CpuKernels::avx_vnni:
        return avx2 && __builtin_cpu_supports("avxvnni");
    case CpuKernels::avx2:
        return avx2;
    case CpuKernels::portable:
    case CpuKernels::neon_dotprod:
        break;
    }
#endif
    if (level == CpuKernels::neon_dotprod) {
        return arm_dot_products();
    }
    return level == CpuKernels::portable;
}

CpuKernels cpu_kernels() {
    static const CpuKernels level = [] {
        const CpuKernels most = cap();
        CpuKernels highest = CpuKernels::portable;
        for (CpuKernels candidate : kCpuKernelLevels) {
            if (candidate <= most && cpu_runs(candidate)) {
                highest = candidate;
            }
        }
        return highest;
    }();
    return level;
}

bool cpu_kernels_vectorised() {
    const CpuKernels level = cpu_kernels();
    return level == CpuKernels::avx2 || level == CpuKernels::avx_vnni || level == CpuKernels::avx512_vnni;
}

const char *cpu_kernels_name(CpuKernels level) {
    switch (level) {
    case CpuKernels::neon_dotprod:
        return "neon-dotprod";
    case CpuKernels::avx512_vnni:
        return "avx512-vnni";
    case CpuKernels::avx_vnni:
        return "avx-vnni";
    case CpuKernels::avx2:
        return "avx2";
    case CpuKernels::portable:
        break;
    }
    return "portable";
}

bool cpu_kernels_named(const char *name, CpuKernels &level) {
    for (CpuKernels candidate : kCpuKernelLevels) {
        if (std::strcmp(name, cpu_kernels_name(candidate)) == 0) {
            level = candidate;
            return true;
        }
    }
    return false;
}

} // namespace lofi
