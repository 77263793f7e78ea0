//! The radio (README, Radio): music without end from the backend's [`RadioSource`], cut into
//! segments that the cache keeps (each with its parent) and the playlist plays as they come.
//! The stream (MusicGen's, or the procedural endless score) is cut every [`SEGMENT_SEC`] and
//! its segments overlap by [`SEAMLESS_OVERLAP_SEC`], so they join without a seam. When the
//! listener is about to hear everything made so far (the generator is slower than real time),
//! a procedural bridge in the radio's mood is queued, so the radio never goes silent.
//! A new prompt for a model's radio (which may be a minute ahead of the listener) starts a
//! new song at once: the window in progress stops, and what was made ahead of the listener
//! leaves the playlist ([`Radio::retune`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::audio::Audio;
use crate::backend::master::StreamMaster;
use crate::backend::{Backend, BackendError, GenerationRequest, RadioSource};
use crate::cache::{Cache, TrackMeta, SEAMLESS_OVERLAP_SEC};
use crate::queue::StoreSettings;
use crate::rpc::{ErrorReason, RpcError};
use crate::{generation, track_id, SAMPLE_RATE};

/// Length of a radio segment.
pub const SEGMENT_SEC: f64 = 10.0;
/// The generator rests while this much is queued ahead of the listener: a slow one (MusicGen)
/// builds a buffer; a fast one (procedural) stays close, so a new prompt is heard soon.
const AHEAD_MAX_SEC: f64 = 60.0;
const FAST_AHEAD_MAX_SEC: f64 = 12.0;
/// A bridge is queued when less than this is left to hear.
const BRIDGE_BELOW_SEC: f64 = 5.0;
const BRIDGE_SEC: f64 = 30.0;
/// A generator this much faster than real time keeps up: a bridge gives way to it at once.
const KEEPS_UP_SPEED: f64 = 1.2;

pub enum RadioEvent {
    /// A segment is in the cache, ready to play; `bridge`: a procedural bridge.
    Segment { meta: Box<TrackMeta>, bridge: bool },
    /// The generator stopped on an error; the radio is over.
    Failed(RpcError),
}

type Emit = Arc<dyn Fn(RadioEvent) + Send + Sync>;

/// Radios started in this process: each radio's serial number, which its events carry.
static RADIOS: AtomicU64 = AtomicU64::new(0);

/// One of the radio's tracks, for the seconds-ahead count and the segments' parents.
struct RadioTrack {
    id: String,
    duration_sec: f64,
    bridge: bool,
    /// Made for a prompt the radio has left: it does not join the playlist, nor parent a segment.
    dropped: bool,
}

struct Shared {
    prompt: Mutex<String>,
    /// Counts the model radio's new songs (new prompts); a track made in an older one is dropped.
    song: AtomicU64,
    /// Stops the window in progress: set by a new song or the radio's end.
    cancel_window: AtomicBool,
    seed: u64,
    /// The generator rests while this many seconds are queued.
    ahead_max_sec: f64,
    stop: AtomicBool,
    ahead_ms: AtomicU64,
    /// Generation speed in thousandths of real time (0: not measured yet).
    speed_milli: AtomicU64,
    segments: AtomicU64,
    bridges: AtomicU64,
    bridging: AtomicBool,
    tracks: Mutex<Vec<RadioTrack>>,
}

impl Shared {
    fn prompt(&self) -> String {
        lock(&self.prompt).clone()
    }

    /// Generation speed: `frames` made in `elapsed`, as a multiple of real time.
    fn set_speed(&self, frames: usize, elapsed: Duration) {
        if elapsed > Duration::ZERO {
            let speed = frames as f64 / SAMPLE_RATE as f64 / elapsed.as_secs_f64();
            self.speed_milli
                .store((speed * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }

    fn speed(&self) -> Option<f64> {
        let milli = self.speed_milli.load(Ordering::Relaxed);
        (milli > 0).then(|| milli as f64 / 1000.0)
    }

    /// The radio's latest segment (not a bridge) still in it.
    fn last_segment(&self) -> Option<String> {
        lock(&self.tracks)
            .iter()
            .rev()
            .find(|t| !t.bridge && !t.dropped)
            .map(|t| t.id.clone())
    }

    fn song(&self) -> u64 {
        self.song.load(Ordering::SeqCst)
    }

    fn ahead_sec(&self) -> f64 {
        self.ahead_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What storing a segment needs.
#[derive(Clone)]
struct Store {
    cache: Arc<Cache>,
    settings: Arc<Mutex<StoreSettings>>,
    shared: Arc<Shared>,
}

/// What a stored radio track is.
enum Part<'a> {
    /// The radio's `index`-th segment, after `parent` (continuing its audio when `seamless`).
    Segment {
        index: u64,
        parent: Option<&'a str>,
        seamless: bool,
    },
    /// The radio's `n`-th procedural bridge.
    Bridge(u64),
}

/// A radio track about to be stored: what it is, and the song it was made in.
struct Made<'a> {
    part: Part<'a>,
    song: u64,
}

impl Store {
    /// Writes a radio track to the cache (atomically, as every track), records it and
    /// announces it with `emit`.
    fn segment(
        &self,
        backend: &dyn Backend,
        prompt: &str,
        audio: &Audio,
        made: Made<'_>,
        generation_time: Duration,
        emit: &Emit,
    ) -> Result<(), RpcError> {
        let Made { part, song } = made;
        let bridge = matches!(part, Part::Bridge(_));
        let (index, parent, seamless) = match part {
            Part::Segment {
                index,
                parent,
                seamless,
            } => (index, parent, seamless),
            // Bridges count down from the top, so no bridge takes a segment's place in the ids.
            Part::Bridge(n) => (u64::MAX - n, None, false),
        };
        let info = backend.info();
        let duration_sec = audio.duration_sec();
        let request = GenerationRequest {
            prompt: prompt.to_owned(),
            seed: self.shared.seed,
            duration_sec,
        };
        // One radio's segments differ by their place in it and their parent.
        let place = format!("{}+radio:{}:{index}", info.model_version, parent.unwrap_or(""));
        let track_id = track_id::compute(prompt, request.seed, duration_sec, &place);
        let settings = lock(&self.settings).clone();
        let tokens = (duration_sec * crate::backend::TOKENS_PER_SECOND).round() as u64;
        let meta = TrackMeta {
            parent: parent.map(str::to_owned),
            seamless,
            radio: true,
            ..generation::track_meta(
                track_id,
                &request,
                info,
                settings.format,
                audio.frames(),
                generation_time,
                tokens,
            )
        };
        let stored = self
            .cache
            .store(&meta, audio, &settings.limits, &settings.protected)
            .map_err(|e| RpcError::new(ErrorReason::CacheWriteError, e.to_string()))?;
        // The song is read under the lock `Radio::retune` drops tracks under: a track of an
        // older song stored after the retune is dropped here.
        let mut tracks = lock(&self.shared.tracks);
        tracks.push(RadioTrack {
            id: stored.track_id.clone(),
            duration_sec,
            bridge,
            dropped: song != self.shared.song(),
        });
        if !bridge {
            self.shared.segments.fetch_add(1, Ordering::Relaxed);
        }
        // Announced under the same lock, the radio's tracks join the playlist in the order
        // they are recorded in, which `Radio::retune` reads as the order they are heard in (a
        // bridge recorded after a segment but announced before it stayed queued past a retune).
        emit(RadioEvent::Segment {
            meta: Box::new(stored),
            bridge,
        });
        Ok(())
    }
}

/// Cuts the stream into mastered segments and stores them.
struct Segmenter<'a> {
    backend: &'a dyn Backend,
    store: &'a Store,
    emit: &'a Emit,
    master: StreamMaster,
    /// The last segment's last SEAMLESS_OVERLAP_SEC of audio, for the next to start with.
    overlap: Option<Vec<f32>>,
    /// Of the stream: 1 or 2, interleaved.
    channels: u16,
    made_since: Instant,
    /// The song the stream being cut belongs to.
    song: u64,
}

impl Segmenter<'_> {
    /// A new song starts: its first segment follows the last one heard with a crossfade.
    fn new_song(&mut self, song: u64) {
        self.song = song;
        self.overlap = None;
    }

    fn cut(&mut self, prompt: &str, mut samples: Vec<f32>) -> Result<(), RpcError> {
        self.master.process(&mut samples);
        let overlap = (SEAMLESS_OVERLAP_SEC * SAMPLE_RATE as f64) as usize * usize::from(self.channels);
        let tail = samples[samples.len().saturating_sub(overlap)..].to_vec();
        let parent_id = self.store.shared.last_segment();
        let seamless = parent_id.is_some() && self.overlap.is_some();
        if let (true, Some(parent_tail)) = (seamless, &self.overlap) {
            samples.splice(0..0, parent_tail.iter().copied());
        }
        let index = self.store.shared.segments.load(Ordering::Relaxed);
        let part = Part::Segment {
            index,
            parent: parent_id.as_deref(),
            seamless,
        };
        let audio = Audio {
            samples,
            sample_rate: SAMPLE_RATE,
            channels: self.channels,
        };
        let made = Made { part, song: self.song };
        self.store
            .segment(self.backend, prompt, &audio, made, self.made_since.elapsed(), self.emit)?;
        self.made_since = Instant::now();
        self.overlap = Some(tail);
        Ok(())
    }
}

fn generate(backend: &dyn Backend, mut source: Box<dyn RadioSource + '_>, store: Store, emit: Emit) {
    let shared = Arc::clone(&store.shared);
    let mut segmenter = Segmenter {
        backend,
        store: &store,
        emit: &emit,
        master: StreamMaster::new(source.channels()),
        overlap: None,
        channels: source.channels(),
        made_since: Instant::now(),
        song: shared.song(),
    };
    let channels = usize::from(source.channels());
    let segment_len = (SEGMENT_SEC * SAMPLE_RATE as f64) as usize * channels;
    let mut pending: Vec<f32> = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.ahead_sec() >= shared.ahead_max_sec {
            thread::sleep(Duration::from_millis(100));
            continue;
        }
        // A retune after this point sets the flag after it is cleared, or is seen below.
        let song = shared.song();
        shared.cancel_window.store(false, Ordering::SeqCst);
        if shared.song() != song || shared.stop.load(Ordering::SeqCst) {
            continue;
        }
        if song != segmenter.song {
            pending.clear();
            segmenter.new_song(song);
            source.start_over();
        }
        let prompt = shared.prompt();
        let started = Instant::now();
        let mut made = 0usize;
        let mut failed: Option<RpcError> = None;
        let result = source.next(&prompt, &shared.cancel_window, &mut |chunk| {
            made += chunk.len() / channels;
            shared.set_speed(made, started.elapsed());
            pending.extend_from_slice(chunk);
            while pending.len() >= segment_len && failed.is_none() {
                let segment: Vec<f32> = pending.drain(..segment_len).collect();
                failed = segmenter.cut(&prompt, segment).err();
            }
        });
        shared.set_speed(made, started.elapsed());
        let error = match result {
            Err(BackendError::Cancelled) if shared.stop.load(Ordering::SeqCst) => return,
            Err(BackendError::Cancelled) => continue, // a new song
            Err(BackendError::Inference(message)) => Some(RpcError::new(ErrorReason::ModelInferenceFailed, message)),
            Ok(()) => failed,
        };
        if let Some(error) = error {
            emit(RadioEvent::Failed(error));
            return;
        }
    }
}

/// A running radio; dropping it stops the generator (within a decoder step) and waits for it.
pub struct Radio {
    shared: Arc<Shared>,
    store: Store,
    emit: Emit,
    /// Makes the bridges; `None` when the radio's own source keeps up (procedural).
    bridge_backend: Option<Arc<dyn Backend>>,
    /// The generating backend's name: how a new prompt is heard depends on it.
    backend_name: String,
    worker: Option<JoinHandle<()>>,
    bridge: Mutex<Option<JoinHandle<()>>>,
    /// The last bridge that gave way to the stream.
    gave_way: Mutex<Option<String>>,
    serial: u64,
}

impl Radio {
    /// Starts generating on `backend` from `prompt` and `seed`; `stand_in` makes bridges when
    /// `backend` is not the procedural one. `emit` runs on the radio's threads, with the
    /// radio's serial number (a stopped radio's last events may arrive after the next has
    /// started), under the lock of the radio's tracks: it must only pass the event on.
    pub fn start(
        backend: Arc<dyn Backend>,
        stand_in: Arc<dyn Backend>,
        cache: Arc<Cache>,
        settings: Arc<Mutex<StoreSettings>>,
        prompt: &str,
        seed: u64,
        emit: impl Fn(u64, RadioEvent) + Send + Sync + 'static,
    ) -> Radio {
        let backend_name = backend.info().backend.to_owned();
        let bridge_backend = (backend_name != "procedural").then_some(stand_in);
        let shared = Arc::new(Shared {
            prompt: Mutex::new(prompt.to_owned()),
            song: AtomicU64::new(0),
            cancel_window: AtomicBool::new(false),
            seed,
            ahead_max_sec: if bridge_backend.is_some() {
                AHEAD_MAX_SEC
            } else {
                FAST_AHEAD_MAX_SEC
            },
            stop: AtomicBool::new(false),
            ahead_ms: AtomicU64::new(0),
            speed_milli: AtomicU64::new(0),
            segments: AtomicU64::new(0),
            bridges: AtomicU64::new(0),
            // The opening bridge (below) is on its way.
            bridging: AtomicBool::new(bridge_backend.is_some()),
            tracks: Mutex::new(Vec::new()),
        });
        let store = Store {
            cache,
            settings,
            shared: Arc::clone(&shared),
        };
        let serial = RADIOS.fetch_add(1, Ordering::Relaxed) + 1;
        let emit: Emit = Arc::new(move |event| emit(serial, event));
        let worker = {
            let (store, emit) = (store.clone(), Arc::clone(&emit));
            let opening_bridge = bridge_backend.clone();
            thread::Builder::new()
                .name("radio".into())
                .spawn(move || {
                    // The generator's source exists from the start: while it lives, the model
                    // is the radio's and is not handed back, even while the bridge renders.
                    let source = backend.radio(seed);
                    // The radio opens on a bridge before the generator starts: a fast model
                    // could otherwise finish its first segment before the bridge is rendered.
                    if let Some(stand_in) = opening_bridge {
                        bridge(stand_in.as_ref(), &store, &emit);
                    }
                    generate(backend.as_ref(), source, store, emit)
                })
                .expect("spawn radio")
        };
        Radio {
            shared,
            store,
            emit,
            bridge_backend,
            backend_name,
            worker: Some(worker),
            bridge: Mutex::new(None),
            gave_way: Mutex::new(None),
            serial,
        }
    }

    /// Steers the radio. The procedural one follows `prompt` from its next bar line, a few
    /// seconds ahead of the listener. A model's radio, up to a minute ahead, starts a new song
    /// on it at once: the window in progress stops, and the tracks made after `playing` (the
    /// track heard; none: all of them) are dropped — returned, for the playlist to let go of
    /// them (they stay in the cache). The new song's first segment follows `playing` with a
    /// crossfade (a bridge in the new mood first, if the generator is slower than real time).
    pub fn retune(&self, prompt: &str, playing: Option<&str>) -> Vec<String> {
        let before = std::mem::replace(&mut *lock(&self.shared.prompt), prompt.to_owned());
        if before == prompt || self.bridge_backend.is_none() {
            return Vec::new();
        }
        let mut tracks = lock(&self.shared.tracks);
        self.shared.song.fetch_add(1, Ordering::SeqCst);
        self.shared.cancel_window.store(true, Ordering::SeqCst);
        let heard = playing.and_then(|id| tracks.iter().position(|t| t.id == id));
        let after = heard.map_or(0, |i| i + 1);
        tracks[after..]
            .iter_mut()
            .filter(|t| !t.dropped)
            .map(|t| {
                t.dropped = true;
                t.id.clone()
            })
            .collect()
    }

    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Whether `track_id`, one of this radio's, was made for its prompt of the moment (a
    /// track of the song before a retune may still be on its way).
    pub fn wants(&self, track_id: &str) -> bool {
        lock(&self.shared.tracks).iter().any(|t| t.id == track_id && !t.dropped)
    }

    /// How long a radio track lasts, if it is one of this radio's.
    pub fn duration_of(&self, track_id: &str) -> Option<f64> {
        self.track(track_id).map(|(duration, _)| duration)
    }

    /// Whether `track_id` is one of this radio's bridges.
    pub fn is_bridge(&self, track_id: &str) -> bool {
        self.track(track_id).is_some_and(|(_, bridge)| bridge)
    }

    fn track(&self, track_id: &str) -> Option<(f64, bool)> {
        lock(&self.shared.tracks)
            .iter()
            .rev()
            .find(|t| t.id == track_id)
            .map(|t| (t.duration_sec, t.bridge))
    }

    /// Tells the radio how much is queued ahead of the listener: the generator rests when it
    /// is far ahead, and a bridge is queued when it is about to run dry.
    pub fn set_ahead(&self, seconds: f64) {
        self.shared
            .ahead_ms
            .store((seconds.max(0.0) * 1000.0) as u64, Ordering::Relaxed);
        let Some(backend) = &self.bridge_backend else {
            return;
        };
        if seconds >= BRIDGE_BELOW_SEC || self.shared.bridging.swap(true, Ordering::AcqRel) {
            return;
        }
        let (backend, store, emit) = (Arc::clone(backend), self.store.clone(), Arc::clone(&self.emit));
        let handle = thread::Builder::new()
            .name("radio-bridge".into())
            .spawn(move || bridge(backend.as_ref(), &store, &emit))
            .expect("spawn radio bridge");
        if let Some(done) = lock(&self.bridge).replace(handle) {
            let _ = done.join();
        }
    }

    /// Whether the bridge `playing` should give way to the stream now: the generator keeps up
    /// with the listener, and this bridge has not given way already (its crossfade may still
    /// be running).
    pub fn bridge_gives_way(&self, playing: &str) -> bool {
        let keeps_up = self.shared.speed().is_some_and(|speed| speed >= KEEPS_UP_SPEED);
        let mut gave_way = lock(&self.gave_way);
        if !keeps_up || !self.is_bridge(playing) || gave_way.as_deref() == Some(playing) {
            return false;
        }
        *gave_way = Some(playing.to_owned());
        true
    }

    pub fn status(&self) -> Value {
        json!({
            "prompt": self.shared.prompt(),
            "seed": self.shared.seed,
            "backend": self.backend_name,
            "segments": self.shared.segments.load(Ordering::Relaxed),
            "bridges": self.shared.bridges.load(Ordering::Relaxed),
            "seconds_ahead": (self.shared.ahead_sec() * 10.0).round() / 10.0,
            "speed": self.shared.speed(),
        })
    }
}

/// Renders and stores a procedural bridge in the radio's mood.
fn bridge(backend: &dyn Backend, store: &Store, emit: &Emit) {
    let shared = &store.shared;
    let song = shared.song();
    let n = shared.bridges.fetch_add(1, Ordering::Relaxed);
    let request = GenerationRequest {
        prompt: shared.prompt(),
        seed: shared.seed.wrapping_add(n + 1),
        duration_sec: BRIDGE_SEC,
    };
    let started = Instant::now();
    let result = backend
        .generate(&request, &mut |_| {}, &shared.stop)
        .map_err(|e| RpcError::new(ErrorReason::ModelInferenceFailed, e.to_string()))
        .and_then(|generated| {
            store.segment(
                backend,
                &request.prompt,
                &generated.audio,
                Made {
                    part: Part::Bridge(n),
                    song,
                },
                started.elapsed(),
                emit,
            )
        });
    // Stored, it was announced; an error while the radio stops is expected.
    if let Err(e) = result {
        if !shared.stop.load(Ordering::Relaxed) {
            tracing::warn!("radio bridge: {}", e.message);
        }
    }
    // The pump adds the bridge to the playlist within a tick or two; until then the seconds
    // ahead it reports do not count it yet.
    thread::sleep(Duration::from_millis(200));
    shared.bridging.store(false, Ordering::Release);
}

impl Drop for Radio {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.cancel_window.store(true, Ordering::SeqCst);
        for handle in [self.worker.take(), lock(&self.bridge).take()].into_iter().flatten() {
            let _ = handle.join();
        }
    }
}
