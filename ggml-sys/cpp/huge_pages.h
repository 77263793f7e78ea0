// Asking the kernel for 2 MB pages under the buffers every decoder step streams whole: the strips
// (221 MB for musicgen-small Q4_K_M) and the attention caches (up to 120 MB), which on 4 KB pages
// a step crosses ~85,000 of. Measured back to back (Intel Xeon, 2 threads): the strips on huge
// pages, a 5 s track's steps 15.1 ms against 15.8-17.3; the caches too, a 30 s track's step at
// position 1498 21.2 against 23.4 ms. Transparent huge pages set to "madvise" (this machine's, and
// several distributions' default) go only to memory that asks; under "always" this changes
// nothing, under "never" it is ignored.
#pragma once

#include <cstddef>

#include "ggml-backend.h"

namespace lofi {

// Before the buffer's pages are first touched: its whole 2 MB pages (no-op off Linux and for
// buffers that are not in host memory).
void ask_for_huge_pages(ggml_backend_buffer_t buffer);

// The same for host memory [data, data + bytes).
void ask_for_huge_pages(void *data, size_t bytes);

} // namespace lofi
