//! Process lifecycle: pid file, idle timeout, signals, logging. The daemon never
//! outlives its editor: it exits on stdin EOF, on SIGTERM/SIGINT/SIGHUP, or when idle.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// `$XDG_RUNTIME_DIR/lofi-daemon-<parent pid>.pid` (one per editor), falling back to the
/// temp dir when no runtime dir is set.
pub fn default_pid_file() -> PathBuf {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("lofi-daemon-{}.pid", std::os::unix::process::parent_id()))
}

/// A pid file that is removed again by [`PidFile::remove`] (called on every exit path).
pub struct PidFile {
    path: Mutex<Option<PathBuf>>,
}

impl PidFile {
    /// Writes our pid with mode 0600.
    pub fn create(path: &Path) -> io::Result<Arc<PidFile>> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        writeln!(file, "{}", std::process::id())?;
        Ok(Arc::new(PidFile {
            path: Mutex::new(Some(path.to_owned())),
        }))
    }

    pub fn remove(&self) {
        if let Some(path) = self.path.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// Calls `on_signal` (from a dedicated thread) on SIGTERM, SIGINT or SIGHUP.
/// Lowers the calling thread's scheduling priority to nice 10, below the audio callback and
/// the control thread (on Linux the nice value is per thread and inherited by the threads it
/// creates). Best effort: a failure leaves the priority as it was.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority on the calling thread have no memory effects.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

pub fn on_termination(on_signal: impl Fn(i32) + Send + 'static) -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            on_signal(signal);
        }
    })?;
    Ok(())
}

/// Calls `on_idle` once `idle()` has reported at least `timeout` (checked every 250 ms).
/// `idle` returns `None` while the daemon is busy (generating), which never times out.
pub fn watch_idle(
    timeout: Duration,
    idle: impl Fn() -> Option<Duration> + Send + 'static,
    on_idle: impl FnOnce() + Send + 'static,
) {
    let tick = Duration::from_millis(250).min(timeout);
    let _ = thread::Builder::new().name("idle".into()).spawn(move || loop {
        thread::sleep(tick);
        if idle().is_some_and(|d| d >= timeout) {
            on_idle();
            return;
        }
    });
}

/// Logs through tracing to `log_file` (appending) or stderr; never stdout, which
/// carries the protocol.
pub fn init_logging(level: &str, log_file: Option<&Path>) -> Result<(), String> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).map_err(|e| format!("invalid --log-level {level:?}: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    match log_file {
        Some(path) => {
            let file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
            builder.with_writer(Mutex::new(file)).init();
        }
        None => builder.with_writer(io::stderr).init(),
    }
    Ok(())
}
