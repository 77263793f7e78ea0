#include "errors.h"

#include <cstring>
#include <mutex>

#include "ggml.h"

namespace lofi {

namespace {
thread_local bool capturing = false;
thread_local std::string captured;

void log_callback(enum ggml_log_level level, const char *text, void *) {
    if (capturing) {
        if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) {
            std::string line(text);
            while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) {
                line.pop_back();
            }
            if (!line.empty()) {
                captured = line;
            }
        }
        return;
    }
    // Outside a capture only errors reach stderr: the daemon's stderr is the user's log.
    if (level == GGML_LOG_LEVEL_ERROR) {
        fputs(text, stderr);
    }
}

void install_callback() {
    static std::once_flag once;
    std::call_once(once, [] { ggml_log_set(log_callback, nullptr); });
}
} // namespace

void set_error(char *err, size_t err_len, const std::string &msg) {
    if (err == nullptr || err_len == 0) {
        return;
    }
    size_t n = std::min(msg.size(), err_len - 1);
    std::memcpy(err, msg.data(), n);
    err[n] = '\0';
}

LogCapture::LogCapture() {
    install_callback();
    capturing = true;
    captured.clear();
}

LogCapture::~LogCapture() { capturing = false; }

std::string LogCapture::last_error() const {
    // GGML prefixes its messages with the function name ("gguf_init_from_file_impl: ...").
    size_t colon = captured.find(": ");
    return colon == std::string::npos ? captured : captured.substr(colon + 2);
}

} // namespace lofi
