//! The JSON-RPC server: reads requests from stdin, dispatches them, and writes replies
//! and notifications to stdout through one writer thread so lines never interleave.

mod methods;
pub mod params;

use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use serde_json::Value;

use crate::backend::Backend;
use crate::cache::{lame_available, AudioFormat, Cache, CacheLimits};
use crate::playback::Engine;
use crate::queue::{Queue, QueueEvent, StoreSettings};
use crate::rpc::{parse_message, ErrorReason, LineReader, Outgoing, ReadLine, RpcError, MAX_LINE_BYTES};

pub use params::PrefetchStrategy;

/// What the server is started with.
pub struct ServerOptions {
    pub backend: Arc<dyn Backend>,
    pub cache: Arc<Cache>,
    pub limits: CacheLimits,
    pub format: AudioFormat,
    pub default_prompt: String,
    pub default_duration_sec: f64,
    /// Why the requested backend could not be used, if it fell back to procedural.
    pub backend_fallback: Option<RpcError>,
    /// Output device name; `None` = system default, `"none"` = no device.
    pub audio_device: Option<String>,
    pub volume: f32,
}

/// How often the pump looks at playback (events, next track, prefetch, device).
const TICK: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prefetch {
    pub enabled: bool,
    pub strategy: PrefetchStrategy,
    pub presets: Vec<String>,
}

impl Default for Prefetch {
    fn default() -> Self {
        Prefetch {
            enabled: true,
            strategy: PrefetchStrategy::SamePrompt,
            presets: vec![
                "lofi hip hop, rainy day, mellow piano".into(),
                "chill beats, coffee shop, jazz chords".into(),
                "lofi, late night coding, ambient synth".into(),
                "lofi hip hop, vinyl crackle, nostalgic".into(),
            ],
        }
    }
}

/// Sends lines to the writer thread. Cloneable; used by the worker too.
#[derive(Clone)]
pub struct Outbox(Sender<Outgoing>);

impl Outbox {
    pub fn notify(&self, method: &'static str, params: Value) {
        let _ = self.0.send(Outgoing::Notification(method, params));
    }

    /// Waits (up to `timeout`) until the writer has taken every queued line.
    pub fn drain(&self, timeout: Duration) {
        let start = Instant::now();
        while !self.0.is_empty() && start.elapsed() < timeout {
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Replies to a request; notifications (no id) get no reply.
    fn reply(&self, id: &Option<Value>, result: Result<Value, RpcError>) {
        if let Some(id) = id {
            let _ = self.0.send(Outgoing::Response(id.clone(), result));
        }
    }
}

pub struct Server {
    outbox: Outbox,
    backend: Arc<dyn Backend>,
    cache: Arc<Cache>,
    queue: Arc<Queue>,
    engine: Mutex<Engine>,
    settings: Arc<Mutex<StoreSettings>>,
    /// Next preset for the `preset_cycle` prefetch strategy.
    preset_cursor: AtomicUsize,
    prefetch: Mutex<Prefetch>,
    default_prompt: String,
    default_duration_sec: f64,
    lame_warned: AtomicBool,
    started: Instant,
    /// Milliseconds since `started` of the last request (for the idle timeout).
    last_activity_ms: AtomicU64,
}

/// Runs until the server is gone: queue events as they come, playback every tick.
fn pump(server: Weak<Server>, events: Receiver<QueueEvent>) {
    loop {
        let event = events.recv_timeout(TICK);
        let Some(server) = server.upgrade() else { return };
        match event {
            Ok(event) => server.on_queue_event(event),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        }
        server.tick();
    }
}

/// Starts the writer thread on `out`; it ends when every [`Outbox`] is dropped or the
/// client stops reading.
pub fn spawn_writer<W: Write + Send + 'static>(mut out: W) -> (Outbox, JoinHandle<()>, Arc<AtomicBool>) {
    let (tx, rx): (Sender<Outgoing>, Receiver<Outgoing>) = unbounded();
    let broken = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&broken);
    let handle = thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            for message in rx {
                if out
                    .write_all(message.to_line().as_bytes())
                    .and_then(|_| out.flush())
                    .is_err()
                {
                    flag.store(true, Ordering::Relaxed);
                    break;
                }
            }
        })
        .expect("spawn writer");
    (Outbox(tx), handle, broken)
}

impl Server {
    pub fn new(options: ServerOptions, outbox: Outbox) -> Arc<Server> {
        let settings = Arc::new(Mutex::new(StoreSettings {
            format: options.format,
            limits: options.limits,
            protected: Vec::new(),
        }));
        let (events_tx, events_rx) = unbounded::<QueueEvent>();
        let queue = Queue::start(
            Arc::clone(&options.backend),
            Arc::clone(&options.cache),
            Arc::clone(&settings),
            move |event| {
                let _ = events_tx.send(event);
            },
        );
        let engine = Engine::new(Arc::clone(&options.cache), options.audio_device, options.volume);
        let server = Arc::new(Server {
            outbox,
            backend: options.backend,
            cache: options.cache,
            queue,
            engine: Mutex::new(engine),
            settings,
            preset_cursor: AtomicUsize::new(0),
            prefetch: Mutex::new(Prefetch::default()),
            default_prompt: options.default_prompt,
            default_duration_sec: options.default_duration_sec,
            lame_warned: AtomicBool::new(false),
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
        });
        if let Some(error) = options.backend_fallback {
            server.warn(error);
        }
        server.warn_if_lame_missing();
        let weak = Arc::downgrade(&server);
        thread::Builder::new()
            .name("pump".into())
            .spawn(move || pump(weak, events_rx))
            .expect("spawn pump");
        server
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Generation finished or failed: tell the client, then let playback react.
    fn on_queue_event(&self, event: QueueEvent) {
        let (method, params) = event.to_notification(self.cache.dir());
        self.outbox.notify(method, params);
        if let QueueEvent::Complete {
            meta, prefetch, play, ..
        } = event
        {
            let mut engine = self.engine();
            let result = if play {
                engine.play_now(&meta.track_id)
            } else if prefetch {
                engine.playlist_add(&meta.track_id)
            } else {
                Ok(())
            };
            if let Err(e) = result {
                tracing::warn!("cannot play {}: {}", meta.track_id, e.message);
            }
        }
    }

    /// Playback housekeeping: forwards its events, keeps the playing track safe from
    /// eviction, and queues a prefetch when asked.
    fn tick(&self) {
        let (events, protected) = {
            let mut engine = self.engine();
            engine.tick();
            (engine.take_events(), engine.protected())
        };
        self.settings.lock().unwrap_or_else(|e| e.into_inner()).protected = protected;
        for event in events {
            if let crate::playback::PlaybackEvent::PrefetchWanted { track_id } = &event {
                self.prefetch_after(track_id);
                continue;
            }
            let (method, params) = event.to_notification();
            self.outbox.notify(method, params);
        }
    }

    /// A `daemon_warning` notification: something degraded, the daemon carries on.
    fn warn(&self, error: RpcError) {
        tracing::warn!("{}", error.message);
        self.outbox.notify(
            "daemon_warning",
            serde_json::json!({ "message": error.message, "code": error.reason }),
        );
    }

    fn warn_if_lame_missing(&self) {
        let wants_mp3 = self.store_settings().format == AudioFormat::Mp3;
        if wants_mp3 && !lame_available() && !self.lame_warned.swap(true, Ordering::Relaxed) {
            self.warn(RpcError::new(
                ErrorReason::LameNotFound,
                "MP3 caching needs the lame encoder, which is not on PATH; tracks are cached as WAV",
            ));
        }
    }

    fn store_settings(&self) -> StoreSettings {
        self.settings.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Whether anything keeps the daemon busy (generating or playing).
    pub fn is_busy(&self) -> bool {
        !self.queue.is_empty() || self.engine().is_playing()
    }

    /// Time since the last request.
    pub fn idle_for(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_activity_ms.load(Ordering::Relaxed)))
    }

    /// Reads requests until EOF. Returns when stdin closes.
    pub fn serve<R: BufRead>(&self, input: R) -> io::Result<()> {
        let mut reader = LineReader::new(input);
        loop {
            match reader.read_line()? {
                ReadLine::Eof => return Ok(()),
                ReadLine::TooLong => {
                    self.touch();
                    let error = RpcError::new(
                        ErrorReason::InvalidRequest,
                        format!("request line is longer than {MAX_LINE_BYTES} bytes"),
                    );
                    self.outbox.reply(&Some(Value::Null), Err(error));
                }
                ReadLine::Line(line) => self.handle_line(&line),
            }
        }
    }

    fn touch(&self) {
        self.last_activity_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Handles one line: a request, a notification or a batch.
    pub fn handle_line(&self, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.touch();
        match parse_message(line) {
            Err((id, error)) => self.outbox.reply(&id, Err(error)),
            Ok(request) => {
                tracing::debug!(method = %request.method, "request");
                if let Some(result) = self.dispatch(&request) {
                    if let Err(error) = &result {
                        tracing::info!(method = %request.method, "error: {}", error.message);
                    }
                    self.outbox.reply(&request.id, result);
                }
                // Events a request caused (play, pause, skip...) follow its reply at once.
                self.tick();
            }
        }
    }
}
