// What our 64-bit ARM CPU kernels (the neon-dotprod level) share: the level's target attribute
// (cpu_features.h chooses the level at run time, whatever the build's baseline), a loop over
// the lanes a lane-indexed intrinsic takes as a constant, and exp (the softmax, ELU, GELU).
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

// exp(x) = mantissa * power for x <= 0: cpu_simd.h's exp_minus (Cephes' expf) on NEON, ~1e-7.
struct ExpParts {
    float32x4_t mantissa, power;
};

LOFI_DOTPROD inline ExpParts exp_parts_neon(float32x4_t x) {
    x = vmaxq_f32(x, vdupq_n_f32(-87.0f)); // exp(-87) is ~0 in f32; 2^n stays normal
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_n_f32(x, n, 0.693359375f);
    r = vfmsq_n_f32(r, n, -2.12194440e-4f);
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    for (const float c : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f}) {
        p = vfmaq_f32(vdupq_n_f32(c), p, r);
    }
    const float32x4_t mantissa = vaddq_f32(vfmaq_f32(r, p, vmulq_f32(r, r)), vdupq_n_f32(1.0f));
    const int32x4_t power = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return {mantissa, vreinterpretq_f32_s32(power)};
}

// exp(x) for x <= 0.
LOFI_DOTPROD inline float32x4_t exp_neon(float32x4_t x) {
    const ExpParts e = exp_parts_neon(x);
    return vmulq_f32(e.mantissa, e.power);
}

// exp(x) - 1 for x <= 0, one rounding (as exp_minus for ELU: absolute error ~1e-7).
LOFI_DOTPROD inline float32x4_t exp_minus_one_neon(float32x4_t x) {
    const ExpParts e = exp_parts_neon(x);
    return vnegq_f32(vfmsq_f32(vdupq_n_f32(1.0f), e.mantissa, e.power));
}

} // namespace lofi
#endif
