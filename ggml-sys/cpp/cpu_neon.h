// What our 64-bit ARM CPU kernels (the neon-dotprod level) share: the level's target attribute
// (cpu_features.h chooses the level at run time, whatever the build's baseline) and a loop over
// the lanes a lane-indexed intrinsic takes as a constant.
#pragma once

#ifdef __aarch64__
#include <arm_neon.h>

#include <type_traits>
#include <utility>

#define LOFI_ARM 1
// The dot product instructions (sdot) of Armv8.2-A and later; every Apple CPU has them, so
// Apple's compilers enable them by default. GCC's arm_neon.h declares the intrinsics for
// armv8.2-a+dotprod: a function that inlines them must be at least that.
#if defined(__ARM_FEATURE_DOTPROD)
#define LOFI_DOTPROD
#elif defined(__clang__)
#define LOFI_DOTPROD __attribute__((target("dotprod")))
#else
#define LOFI_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

namespace lofi {

template <typename F, int... I> LOFI_DOTPROD inline void for_each_lane_of(F &&f, std::integer_sequence<int, I...>) {
    (f(std::integral_constant<int, I>{}), ...);
}

// f(std::integral_constant<int, i>) for i in [0, N): a lane as a constant expression, which
// vdotq_laneq_s32 and the immediate shifts require (a loop variable is not one, unrolled or not).
// f is a LOFI_DOTPROD lambda: GCC inlines a function only into one of at least its target.
template <int N, typename F> LOFI_DOTPROD inline void for_each_lane(F &&f) {
    for_each_lane_of(f, std::make_integer_sequence<int, N>{});
}

} // namespace lofi
#endif
