#include "mapping_guard.h"

#include <csignal>
#include <cstdint>
#include <mutex>

#include <sys/mman.h>
#include <unistd.h>

namespace lofi {
namespace {

struct GuardedRange {
    std::atomic<uintptr_t> start{0}; // 0: free
    std::atomic<size_t> size{0};
    std::atomic<std::atomic<bool> *> damaged{nullptr};
};

constexpr int kRanges = 16;
GuardedRange ranges[kRanges];
std::mutex registering; // guard and unguard; the handler only reads
struct sigaction previous;
uintptr_t page_size = 4096;

// Runs in the faulting thread: only atomics, sigaction and mmap (a bare system call, safe here in
// practice though POSIX does not list it as async-signal-safe).
void on_bus_error(int signal, siginfo_t *info, void *context) {
    const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
    for (GuardedRange &range : ranges) {
        const uintptr_t start = range.start.load(std::memory_order_acquire);
        if (start == 0 || address < start || address - start >= range.size.load(std::memory_order_acquire)) {
            continue;
        }
        void *page = reinterpret_cast<void *>(address & ~(page_size - 1));
        if (mmap(page, page_size, PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
            range.damaged.load(std::memory_order_acquire)->store(true, std::memory_order_release);
            return; // the read is tried again, and reads zeros
        }
        break;
    }
    if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
        previous.sa_sigaction(signal, info, context);
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(signal);
    } else {
        // Returning re-runs the read, which now meets the default action.
        struct sigaction fallback = {};
        fallback.sa_handler = SIG_DFL;
        sigaction(signal, &fallback, nullptr);
    }
}

void install_once() {
    static std::once_flag installed;
    std::call_once(installed, [] {
        page_size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
        struct sigaction action = {};
        action.sa_sigaction = on_bus_error;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&action.sa_mask);
        sigaction(SIGBUS, &action, &previous);
    });
}

} // namespace

void guard_mapping(void *start, size_t size, std::atomic<bool> *damaged) {
    install_once();
    std::lock_guard<std::mutex> lock(registering);
    for (GuardedRange &range : ranges) {
        if (range.start.load(std::memory_order_relaxed) == 0) {
            range.size.store(size, std::memory_order_relaxed);
            range.damaged.store(damaged, std::memory_order_relaxed);
            range.start.store(reinterpret_cast<uintptr_t>(start), std::memory_order_release);
            return;
        }
    }
    // More models than ranges: this one is unguarded, as every mapping was before.
}

void unguard_mapping(void *start) {
    std::lock_guard<std::mutex> lock(registering);
    for (GuardedRange &range : ranges) {
        if (range.start.load(std::memory_order_relaxed) == reinterpret_cast<uintptr_t>(start)) {
            range.start.store(0, std::memory_order_release);
        }
    }
}

} // namespace lofi
