#include "thread_governor.h"

#include <algorithm>
#include <chrono>

#include "cpu_backend.h"

namespace lofi {

namespace {
constexpr int64_t kFirstProbeInterval = 16;
constexpr int64_t kLongestProbeInterval = 512; // ~10 s of audio between probes at most
// A step on the preferred count this many times slower than the other count's latest step
// means the load changed: time the other count at once.
constexpr double kSlowdown = 2.0;
} // namespace

ThreadGovernor::ThreadGovernor(ggml_backend_t backend, int threads)
    : backend_(backend), threads_(std::max(threads, 1)), probe_interval_(kFirstProbeInterval) {}

ThreadGovernor::~ThreadGovernor() { use(true); }

void ThreadGovernor::use(bool all_threads) { set_cpu_threads(backend_, all_threads ? threads_ : 1); }

bool ThreadGovernor::run(const std::function<bool()> &step) {
    if (threads_ == 1) {
        return step();
    }
    const bool probe = --steps_to_probe_ == 0;
    const bool all_threads = probe ? !prefer_all_ : prefer_all_;
    use(all_threads);
    const auto start = std::chrono::steady_clock::now();
    const bool ok = step();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    latest_[all_threads] = seconds;
    if (probe) {
        const bool all_faster = latest_[1] <= latest_[0];
        probe_interval_ = all_faster == prefer_all_ ? std::min(probe_interval_ * 2, kLongestProbeInterval) : kFirstProbeInterval;
        prefer_all_ = all_faster;
        steps_to_probe_ = probe_interval_;
    } else if (latest_[!all_threads] > 0.0 && seconds > kSlowdown * latest_[!all_threads]) {
        steps_to_probe_ = 1;
    }
    return ok;
}

} // namespace lofi
