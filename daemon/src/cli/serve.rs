//! The default mode: JSON-RPC on stdin/stdout until EOF, a signal, or the idle timeout.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::{default_cache_dir, ServeArgs};
use crate::cache::{Cache, CacheLimits};
use crate::lifecycle::{self, PidFile};
use crate::server::{self, Server, ServerOptions};

/// The default pid file, or none: it serves manual clean-up only, so a runtime directory that is
/// full, read-only or not private leaves the daemon playing without one, said in the log. (An
/// explicit `--pid-file` that cannot be written fails the start.)
fn default_pid_file() -> Arc<PidFile> {
    let created = lifecycle::default_pid_file()
        .map_err(|e| format!("cannot place the pid file: {e}"))
        .and_then(|path| {
            PidFile::create(&path, true).map_err(|e| format!("cannot write pid file {}: {e}", path.display()))
        });
    created.unwrap_or_else(|e| {
        tracing::warn!("{e}; running without one");
        PidFile::none()
    })
}

pub fn run(args: ServeArgs) -> Result<(), String> {
    lifecycle::bound_allocator_retention();
    let cache_dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let cache = Cache::open(&cache_dir).map_err(|e| e.to_string())?;
    let pid_file = match &args.pid_file {
        Some(path) => {
            PidFile::create(path, false).map_err(|e| format!("cannot write pid file {}: {e}", path.display()))?
        }
        None => default_pid_file(),
    };
    lifecycle::exit_on_panic(Arc::clone(&pid_file));

    let (backend, backend_fallback) = args.backend.build();
    let (outbox, _writer, client_gone) = server::spawn_writer(io::stdout());
    let server = Server::new(
        ServerOptions {
            backend,
            stand_in: Arc::new(args.backend.procedural()),
            cache: Arc::new(cache),
            limits: CacheLimits {
                max_mb: args.cache_max_mb,
                max_tracks: args.cache_max_tracks,
            },
            format: args.format.into(),
            default_prompt: crate::defaults::PROMPT.to_owned(),
            default_duration_sec: crate::defaults::DURATION_SEC,
            backend_fallback,
            audio_device: args.audio_device.clone(),
            volume: args.volume,
        },
        outbox,
    );
    let pid_path = pid_file.path().map_or("none".to_owned(), |p| p.display().to_string());
    tracing::info!(cache = %cache_dir.display(), pid_file = %pid_path, "lofi-daemon started");

    let exit = {
        let server = Arc::clone(&server);
        let pid_file = Arc::clone(&pid_file);
        move |why: &str| {
            tracing::info!("exiting: {why}");
            server.queue().shutdown();
            server.outbox().drain(Duration::from_millis(500));
            pid_file.remove();
            std::process::exit(0);
        }
    };
    let on_signal = exit.clone();
    lifecycle::on_termination(move |signal| on_signal(&format!("signal {signal}")))
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    if args.idle_timeout > 0 {
        let watched = Arc::clone(&server);
        let on_idle = exit.clone();
        lifecycle::watch_idle(
            Duration::from_secs(args.idle_timeout),
            move || {
                // A client that stopped reading counts as gone.
                if client_gone.load(std::sync::atomic::Ordering::Relaxed) {
                    return Some(Duration::MAX);
                }
                (!watched.is_busy()).then(|| watched.idle_for())
            },
            move || on_idle("idle timeout"),
        );
    }
    let result = server.serve(io::stdin().lock());
    exit(match &result {
        Ok(()) => "stdin closed",
        Err(_) => "stdin error",
    });
    result.map_err(|e| e.to_string())
}
