// GGML's CPU backend, reached through GGML's registry the same way in both kinds of build: a
// static build links one ggml-cpu in (for the build machine, or GGML's portable baseline); a
// build with CPU variants (LOFI_GGML_CPU_VARIANTS, release binaries) loads, once, the best of its
// libggml-cpu-NAME.so modules for the CPU it runs on.
#pragma once

#include <string>

#include "ggml-backend.h"

namespace lofi {

// A CPU backend computing on `threads` threads; nullptr, with `error` saying why, when none.
ggml_backend_t start_cpu_backend(int threads, std::string &error);

// Sets the threads of a backend start_cpu_backend returned.
void set_cpu_threads(ggml_backend_t backend, int threads);

// Which ggml-cpu computes: "zen4, chosen at run time among haswell x64 zen4 in DIR" (or "forced
// by LOFI_GGML_CPU_VARIANT"), "built in, for this machine's instruction set", or "none: " and why
// none loads.
std::string describe_cpu_variant();

// The instruction sets that ggml-cpu was compiled for ("SSE3 SSSE3 AVX AVX2 ..."), or "none".
std::string cpu_backend_features();

} // namespace lofi
