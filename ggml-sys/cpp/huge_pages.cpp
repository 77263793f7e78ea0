#include "huge_pages.h"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lofi {

void ask_for_huge_pages(void *data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
    const auto base = reinterpret_cast<uintptr_t>(data);
    const uintptr_t first = (base + kHugePage - 1) / kHugePage * kHugePage;
    const uintptr_t end = (base + bytes) / kHugePage * kHugePage;
    if (end > first) {
        madvise(reinterpret_cast<void *>(first), end - first, MADV_HUGEPAGE); // advice: a refusal changes nothing
    }
#else
    (void)data;
    (void)bytes;
#endif
}

void ask_for_huge_pages(ggml_backend_buffer_t buffer) {
    if (buffer != nullptr && ggml_backend_buffer_is_host(buffer)) {
        ask_for_huge_pages(ggml_backend_buffer_get_base(buffer), ggml_backend_buffer_get_size(buffer));
    }
}

} // namespace lofi
