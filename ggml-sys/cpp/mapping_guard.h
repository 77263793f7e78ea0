// Keeps a read-only mapping of a model file from killing the process when the file is cut
// shorter under it (written over in place, e.g. `cp new.gguf model.gguf`): a read of a page past
// the file's new end raises SIGBUS. Within a guarded mapping the handler maps a page of zeros
// over the page read, so the computation goes on (with wrong weights), and marks the mapping
// damaged: its owner then throws the result away and says why. Faults elsewhere go to the
// handler that was there before (Rust's, for stack overflows) or kill the process as before.
#pragma once

#include <atomic>
#include <cstddef>

namespace lofi {

// Guards [start, start + size) until unguard_mapping(start); `damaged` (which must outlive the
// guard) is set when a page of it was lost. At most a few mappings at a time (one a model).
void guard_mapping(void *start, size_t size, std::atomic<bool> *damaged);
void unguard_mapping(void *start);

} // namespace lofi
