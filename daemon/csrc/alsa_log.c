/* Routes libasound's error messages (by default printed to stderr as "ALSA lib ...")
 * to the daemon's log. The handler is variadic, which stable Rust cannot define, so it
 * lives here: it formats the message and hands it to lofi_alsa_log (Rust). */
#include <alsa/asoundlib.h>
#include <stdarg.h>
#include <stdio.h>

void lofi_alsa_log(const char *message);

static void route_to_log(const char *file, int line, const char *function, int err, const char *fmt, ...) {
    char text[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    char message[768];
    snprintf(message, sizeof message, "%s:%d (%s) %s%s%s", file ? file : "?", line, function ? function : "?", text,
             err ? ": " : "", err ? snd_strerror(err) : "");
    lofi_alsa_log(message);
}

void lofi_alsa_route_errors(void) {
    snd_lib_error_set_handler(route_to_log);
}
