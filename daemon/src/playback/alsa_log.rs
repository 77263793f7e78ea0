//! libasound prints its errors to stderr ("ALSA lib pcm.c:2666:(snd_pcm_open_noupdate)
//! Unknown PCM default", eight lines on a machine without a sound card) before the daemon
//! can say anything. Its error hook sends them to the daemon's log at debug level instead;
//! the daemon's own one-line message says what the user needs to know.

use std::ffi::{c_char, CStr};

#[cfg(target_os = "linux")]
extern "C" {
    fn lofi_alsa_route_errors();
}

/// Called by the C shim for each message; must not unwind into C.
#[cfg(target_os = "linux")]
#[no_mangle]
extern "C" fn lofi_alsa_log(message: *const c_char) {
    if message.is_null() {
        return;
    }
    // SAFETY: the shim passes a NUL-terminated buffer that lives for this call.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    tracing::debug!(target: "alsa", "{text}");
}

/// Installs the hook (once per process; later calls change nothing).
pub fn route_to_log() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: sets libasound's process-wide error handler to the shim's function.
        ONCE.call_once(|| unsafe { lofi_alsa_route_errors() });
    }
}
