//! The generation queue: serial generation on one worker thread, with priorities,
//! cancellation of pending jobs, progress and completion events.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audio_file::AudioFormat;
use crate::backend::{Backend, BackendError, GenerationRequest, Progress};
use crate::cache::{Cache, CacheLimits, TrackMeta};
use crate::playback::mixer::PreparedTrack;
use crate::playback::stream::TrackStream;
use crate::rpc::{ErrorReason, RpcError};

/// Minimum spacing of `generation_progress` events for one track.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub track_id: String,
    pub request: GenerationRequest,
    /// Queued by prefetch rather than by the user: joins the playlist when done.
    pub prefetch: bool,
    /// Plays as it generates (a stand-in: when done).
    pub play: bool,
    /// Rendered by the stand-in (procedural) backend: plays at once while the requested,
    /// slower track generates, which then crossfades in.
    pub stand_in: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveJob {
    pub track_id: String,
    pub prompt: String,
    pub percent: u8,
}

/// Events the worker reports; the server turns them into notifications.
#[derive(Debug)]
pub enum QueueEvent {
    Started {
        track_id: String,
        prompt: String,
    },
    /// A track asked to play is generating into `track`, which can play as it grows.
    Streaming {
        track: Arc<PreparedTrack>,
    },
    Progress {
        track_id: String,
        percent: u8,
        progress: Progress,
        eta_sec: f64,
    },
    /// `cached`: served from the cache without generating.
    Complete {
        meta: Box<TrackMeta>,
        prefetch: bool,
        play: bool,
        cached: bool,
    },
    /// `prefetch` and `stand_in` as the job's: a client may say a prefetch's failure once, and
    /// leave a stand-in's to the track it stood in for.
    Error {
        track_id: String,
        error: RpcError,
        prefetch: bool,
        stand_in: bool,
    },
}

impl QueueEvent {
    /// `job` failed with `error`.
    fn failed(job: &Job, error: RpcError) -> Self {
        QueueEvent::Error {
            track_id: job.track_id.clone(),
            error,
            prefetch: job.prefetch,
            stand_in: job.stand_in,
        }
    }
}

/// Storage settings the worker applies to each finished track.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    pub format: AudioFormat,
    pub limits: CacheLimits,
    /// Track ids eviction must spare (the one playing).
    pub protected: Vec<String>,
}

#[derive(Default)]
struct State {
    active: Option<ActiveJob>,
    pending: VecDeque<Job>,
    shutdown: bool,
}

/// How often the idle worker lets the backends hand back what they keep loaded unused.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Where a submitted job landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// Queue position: 0 = generating now.
    Queued(usize),
    /// The same track is already active or pending at this position.
    AlreadyQueued(usize),
}

pub struct Queue {
    state: Mutex<State>,
    wake: Condvar,
    cancel_active: AtomicBool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the worker. `emit` receives every event, in order, from the worker thread.
    /// `device_rate`: the output's sample rate, at which tracks asked to play are streamed.
    pub fn start(
        backend: Arc<dyn Backend>,
        stand_in: Arc<dyn Backend>,
        cache: Arc<Cache>,
        settings: Arc<Mutex<StoreSettings>>,
        device_rate: Arc<AtomicU32>,
        emit: impl Fn(QueueEvent) + Send + 'static,
    ) -> Arc<Queue> {
        let queue = Arc::new(Queue {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            cancel_active: AtomicBool::new(false),
        });
        let worker = Arc::clone(&queue);
        thread::Builder::new()
            .name("generation".into())
            .spawn(move || {
                // Threads this one starts (GGML's, rayon's) inherit the lower priority, so a
                // generation never holds a core the audio and control threads need.
                crate::lifecycle::lower_thread_priority();
                let backends = [backend.as_ref(), stand_in.as_ref()];
                worker.run(backends, &cache, &settings, &device_rate, &emit)
            })
            .expect("spawn generation worker");
        queue
    }

    /// Adds a job. `accepted` runs with the queue locked, before the worker can start
    /// the job, so the reply to `generate` always precedes the job's first event.
    pub fn submit(&self, job: Job, high_priority: bool, accepted: impl FnOnce(Submitted)) {
        let mut state = self.lock();
        let active = state.active.iter().map(|a| a.track_id.clone());
        if let Some(pos) = active
            .chain(state.pending.iter().map(|j| j.track_id.clone()))
            .position(|id| id == job.track_id)
        {
            accepted(Submitted::AlreadyQueued(pos));
            return;
        }
        let busy = usize::from(state.active.is_some());
        let position = if high_priority {
            state.pending.push_front(job);
            busy
        } else {
            state.pending.push_back(job);
            busy + state.pending.len() - 1
        };
        accepted(Submitted::Queued(position));
        drop(state);
        self.wake.notify_one();
    }

    /// Removes a pending job; the active one cannot be cancelled (spec: -32001).
    pub fn cancel(&self, track_id: &str) -> Result<(), RpcError> {
        let mut state = self.lock();
        if state.active.as_ref().is_some_and(|a| a.track_id == track_id) {
            return Err(
                RpcError::new(ErrorReason::GenerationInProgress, "Cannot cancel active generation")
                    .with("track_id", track_id),
            );
        }
        let before = state.pending.len();
        state.pending.retain(|j| j.track_id != track_id);
        if state.pending.len() == before {
            return Err(
                RpcError::new(ErrorReason::InvalidTrackId, format!("track {track_id} is not queued"))
                    .with("track_id", track_id),
            );
        }
        Ok(())
    }

    /// Drops every pending job, keeping the active one; returns how many were dropped.
    pub fn clear(&self) -> usize {
        let mut state = self.lock();
        let n = state.pending.len();
        state.pending.clear();
        n
    }

    pub fn active(&self) -> Option<ActiveJob> {
        self.lock().active.clone()
    }

    pub fn pending(&self) -> Vec<Job> {
        self.lock().pending.iter().cloned().collect()
    }

    /// Active plus pending jobs.
    pub fn len(&self) -> usize {
        let state = self.lock();
        state.pending.len() + usize::from(state.active.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the worker after the current step; the active generation is abandoned.
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.cancel_active.store(true, Ordering::Relaxed);
        self.wake.notify_all();
    }

    /// The next job, waiting for one; `idle` runs every [`IDLE_CHECK`] of waiting, outside the
    /// queue's lock.
    fn next_job(&self, idle: &dyn Fn()) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if state.shutdown {
                return None;
            }
            if let Some(job) = state.pending.pop_front() {
                state.active = Some(ActiveJob {
                    track_id: job.track_id.clone(),
                    prompt: job.request.prompt.clone(),
                    percent: 0,
                });
                return Some(job);
            }
            let (waited, timeout) = self
                .wake
                .wait_timeout(state, IDLE_CHECK)
                .unwrap_or_else(|e| e.into_inner());
            state = waited;
            if timeout.timed_out() {
                drop(state);
                idle();
                state = self.lock();
            }
        }
    }

    /// `backends`: the main one and the stand-in.
    fn run(
        &self,
        backends: [&dyn Backend; 2],
        cache: &Cache,
        settings: &Mutex<StoreSettings>,
        device_rate: &AtomicU32,
        emit: &dyn Fn(QueueEvent),
    ) {
        let release_unused = || backends.iter().for_each(|b| b.release_if_unused());
        while let Some(job) = self.next_job(&release_unused) {
            let backend = backends[usize::from(job.stand_in)];
            // A stand-in plays when done: it takes a fraction of a second.
            let stream_at = (job.play && !job.stand_in).then(|| device_rate.load(Ordering::Relaxed));
            let event = self.generate(&job, backend, cache, settings, stream_at, emit);
            self.lock().active = None;
            if let Some(event) = event {
                emit(event);
            }
        }
    }

    /// Generates `job`'s track and stores it; `stream_at`: also streams it at that rate, to
    /// play as it grows.
    fn generate(
        &self,
        job: &Job,
        backend: &dyn Backend,
        cache: &Cache,
        settings: &Mutex<StoreSettings>,
        stream_at: Option<u32>,
        emit: &dyn Fn(QueueEvent),
    ) -> Option<QueueEvent> {
        let track_id = job.track_id.clone();
        emit(QueueEvent::Started {
            track_id: track_id.clone(),
            prompt: job.request.prompt.clone(),
        });
        let started = Instant::now();
        let mut last_report: Option<Instant> = None;
        let mut on_progress = |progress: Progress| {
            // Percent stays at 99 until the track is really stored.
            let fraction = progress.tokens_generated as f64 / progress.tokens_estimated.max(1) as f64;
            let percent = ((fraction * 100.0).floor() as u8).min(99);
            if let Some(active) = self.lock().active.as_mut() {
                active.percent = percent;
            }
            if last_report.is_some_and(|t| t.elapsed() < PROGRESS_INTERVAL) {
                return;
            }
            last_report = Some(Instant::now());
            let elapsed = started.elapsed().as_secs_f64();
            let eta_sec = if fraction > 0.0 {
                elapsed / fraction - elapsed
            } else {
                0.0
            };
            emit(QueueEvent::Progress {
                track_id: track_id.clone(),
                percent,
                progress,
                eta_sec,
            });
        };
        let stream = stream_at.and_then(|rate| {
            let frames = job.request.sample_count();
            TrackStream::new(&track_id, frames, backend.channels(), crate::SAMPLE_RATE, rate)
                .inspect_err(|e| tracing::warn!("cannot stream {track_id}: {e}"))
                .ok()
        });
        let result = match stream {
            Some((mut stream, track)) => {
                emit(QueueEvent::Streaming { track });
                let mut push = |audio: &[f32]| {
                    if let Err(e) = stream.push(audio) {
                        tracing::warn!("cannot stream {track_id}: {e}");
                    }
                };
                let generated =
                    backend.generate_streaming(&job.request, &mut on_progress, &self.cancel_active, &mut push);
                if generated.is_ok() {
                    // Its end, before the cache write: the listener may be near it already.
                    if let Err(e) = stream.finish() {
                        tracing::warn!("cannot stream {track_id}: {e}");
                    }
                }
                generated
            }
            None => backend.generate(&job.request, &mut on_progress, &self.cancel_active),
        };
        let generated = match result {
            Ok(generated) => generated,
            Err(BackendError::Cancelled) => return None,
            Err(BackendError::Inference(message)) => {
                let error = RpcError::new(ErrorReason::ModelInferenceFailed, message);
                return Some(QueueEvent::failed(job, error));
            }
        };
        let info = backend.info();
        let settings = settings.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let meta = crate::generation::track_meta(
            track_id,
            &job.request,
            info,
            settings.format,
            generated.audio.frames(),
            started.elapsed(),
            generated.tokens_actual,
        );
        Some(
            match cache.store(&meta, &generated.audio, &settings.limits, &settings.protected) {
                Ok(stored) => QueueEvent::Complete {
                    meta: Box::new(stored),
                    prefetch: job.prefetch,
                    play: job.play,
                    cached: false,
                },
                Err(e) => QueueEvent::failed(job, RpcError::new(ErrorReason::CacheWriteError, e.to_string())),
            },
        )
    }
}
