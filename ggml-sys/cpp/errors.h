// One-line error reporting across the C API, and GGML's log routed through it.
#pragma once

#include <cstddef>
#include <string>

namespace lofi {

// Copies msg into the caller's buffer (truncated, always NUL-terminated).
void set_error(char *err, size_t err_len, const std::string &msg);

// While alive, GGML's error log lines on this thread are kept instead of printed; last_error()
// gives the last one (GGML's parsers say what is wrong there and return NULL).
class LogCapture {
  public:
    LogCapture();
    ~LogCapture();
    std::string last_error() const;
    LogCapture(const LogCapture &) = delete;
    LogCapture &operator=(const LogCapture &) = delete;
};

} // namespace lofi
