//! Process lifecycle: pid file, idle timeout, signals, logging. The daemon never
//! outlives its editor: it exits on stdin EOF, on SIGTERM/SIGINT/SIGHUP, or when idle.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// `$XDG_RUNTIME_DIR/lofi-daemon-<parent pid>.pid` (one per editor); without a runtime
/// dir, the same name in a private directory of this user's under the temp dir (see
/// [`private_temp_dir`]), never in the shared temp dir itself.
pub fn default_pid_file() -> io::Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() && dir.is_dir() => dir,
        _ => private_temp_dir()?,
    };
    Ok(dir.join(format!("lofi-daemon-{}.pid", std::os::unix::process::parent_id())))
}

/// `<temp dir>/lofi-<uid>`, created with mode 0700. An existing one must be a real
/// directory owned by this user that nobody else can enter, else it is refused: another
/// user may have made it to plant links in it.
fn private_temp_dir() -> io::Result<PathBuf> {
    // SAFETY: getuid cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("lofi-{uid}"));
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let meta = fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "{} is not a private directory of this user's (mode 0700); set XDG_RUNTIME_DIR or --pid-file",
            dir.display()
        )));
    }
    Ok(dir)
}

/// A pid file this process created; [`PidFile::remove`] (called on every exit path)
/// deletes it only if it is still the file we wrote.
pub struct PidFile {
    created: Mutex<Option<(PathBuf, u64, u64)>>,
}

/// Whether `pid` names a live process (signal 0 checks without sending anything).
fn is_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    pid > 0 && (unsafe { libc::kill(pid, 0) } == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH))
}

impl PidFile {
    /// Writes our pid to a new file at `path` (mode 0600, never through a symlink). A file
    /// already there is replaced only when it is a pid file of a process that is gone;
    /// one of a live process is left alone: `shared_name` (the default path) then moves to
    /// `<stem>.<our pid>.pid` beside it, an explicit path is an error.
    pub fn create(path: &Path, shared_name: bool) -> io::Result<Arc<PidFile>> {
        match Self::create_new(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            other => return other,
        }
        match Self::owner(path)? {
            Some(pid) if !is_alive(pid) => {
                fs::remove_file(path)?;
                Self::create_new(path)
            }
            Some(pid) if shared_name => {
                tracing::debug!("pid file {} belongs to running process {pid}", path.display());
                let own = path.with_extension(format!("{}.pid", std::process::id()));
                Self::create_new(&own)
            }
            Some(pid) => Err(io::Error::other(format!("it belongs to running process {pid}"))),
            None => Err(io::Error::other("a file that is not a pid file is in the way")),
        }
    }

    /// No pid file: [`PidFile::remove`] has nothing to do.
    pub fn none() -> Arc<PidFile> {
        Arc::new(PidFile {
            created: Mutex::new(None),
        })
    }

    fn create_new(path: &Path) -> io::Result<Arc<PidFile>> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        let meta = file.metadata()?;
        let pid_file = Arc::new(PidFile {
            created: Mutex::new(Some((path.to_owned(), meta.dev(), meta.ino()))),
        });
        // One we could not write (a full disk) must not stay: an empty pid file would be in the
        // way of every later start ("a file that is not a pid file").
        if let Err(e) = writeln!(file, "{}", std::process::id()) {
            pid_file.remove();
            return Err(e);
        }
        Ok(pid_file)
    }

    /// The pid in an existing pid file; `None` when it is not one (not a regular file, or
    /// not a number).
    fn owner(path: &Path) -> io::Result<Option<i32>> {
        let meta = fs::symlink_metadata(path)?;
        if !meta.is_file() || meta.len() > 32 {
            return Ok(None);
        }
        Ok(fs::read_to_string(path)?.trim().parse().ok())
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(p, _, _)| p.clone())
    }

    pub fn remove(&self) {
        let Some((path, dev, ino)) = self.created.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let ours = fs::symlink_metadata(&path).is_ok_and(|m| m.dev() == dev && m.ino() == ino);
        if ours {
            let _ = fs::remove_file(path);
        }
    }
}

/// Makes a panic in any thread end the daemon: logged, pid file removed, exit status 101,
/// so the plugin's crash handling starts a fresh one. A thread that died alone would leave
/// a half-alive daemon that answers requests but no longer plays or generates.
pub fn exit_on_panic(pid_file: Arc<PidFile>) {
    let print_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = thread::current().name().unwrap_or("unnamed").to_owned();
        tracing::error!("thread {thread:?} panicked: {info}; exiting so that the client restarts the daemon");
        print_panic(info);
        pid_file.remove();
        std::process::exit(101);
    }));
}

/// Keeps a long-running daemon's memory from creeping up: glibc serves an allocation above
/// its mmap threshold from a fresh mapping, returned to the system when freed, but raises that
/// threshold each time such a block is freed (up to 32 MB), after which the multi-MB buffers of
/// every render come from the heap and stay resident. A fixed threshold (128 KiB, glibc's
/// starting value) stops the raising: a 10-minute procedural radio grew 64 → 156 MB without it,
/// and stays at ~55 MB with it.
pub fn bound_allocator_retention() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

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

/// Calls `on_signal` (from a dedicated thread) on SIGTERM, SIGINT or SIGHUP.
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
