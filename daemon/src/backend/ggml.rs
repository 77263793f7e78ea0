//! The `ggml` backend: MusicGen on GGML (the `musicgen` crate) behind the [`Backend`] trait.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use musicgen::{AudioSink, Musicgen, Radio, RunError, Sampling};

use crate::audio::Audio;
use crate::backend::master::StreamMaster;

use super::model_file::FileStamp;
use super::{Backend, BackendError, Generated, GenerationRequest, ModelInfo, Progress, RadioSource};

/// Sampling settings that override the model file's defaults (None = the file's).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SamplingOverrides {
    pub temperature: Option<f32>,
    pub top_k: Option<i32>,
    pub top_p: Option<f32>,
    pub guidance_scale: Option<f32>,
}

pub struct GgmlBackend {
    /// The model, or None once handed back after going unused for `keep` (loaded again on use).
    model: Mutex<Option<Musicgen>>,
    /// When the model last finished a generation or a radio window (or was loaded).
    last_used: Mutex<Instant>,
    /// How long the model stays loaded unused (None: for good).
    keep: Option<Duration>,
    /// What loading it again takes.
    path: PathBuf,
    /// The file as the model in `model` was loaded from it (None: unreadable then).
    loaded_from: Mutex<Option<FileStamp>>,
    threads: usize,
    device: String,
    /// Radios alive: each holds a run state of the loaded model, which must outlive it.
    live_radios: AtomicUsize,
    /// Tracks waiting for the model: a radio lets them go first, between two of its windows
    /// (it would otherwise take the lock again at once, and a radio slower than real time
    /// never rests).
    tracks_waiting: AtomicUsize,
    /// 1, or 2 for the stereo models.
    channels: u16,
    sampling: Sampling,
    info: ModelInfo,
    /// Tests of a generator slower than real time (`LOFI_DAEMON_TEST_HOOKS=1` and
    /// `LOFI_TEST_STEP_DELAY_MS`): the radio and every track wait this long after each
    /// decoder step.
    step_delay: Option<std::time::Duration>,
}

fn test_step_delay() -> Option<std::time::Duration> {
    if std::env::var_os("LOFI_DAEMON_TEST_HOOKS").is_none_or(|v| v != "1") {
        return None;
    }
    let ms: u64 = std::env::var("LOFI_TEST_STEP_DELAY_MS").ok()?.parse().ok()?;
    Some(std::time::Duration::from_millis(ms))
}

impl GgmlBackend {
    /// Loads `path` to compute with `threads` CPU threads on `device` (see [`Musicgen::load`]),
    /// to be handed back after going unused for `keep` (None: never); the error is one line for
    /// the user.
    pub fn load(
        path: &Path,
        threads: usize,
        device: &str,
        overrides: SamplingOverrides,
        keep: Option<Duration>,
    ) -> Result<Self, String> {
        let model = load_model(path, threads, device)?;
        let loaded_from = FileStamp::of(path);
        let defaults = model.default_sampling();
        let sampling = Sampling {
            temperature: overrides.temperature.unwrap_or(defaults.temperature),
            top_k: overrides.top_k.unwrap_or(defaults.top_k),
            top_p: overrides.top_p.unwrap_or(defaults.top_p),
            guidance_scale: overrides.guidance_scale.unwrap_or(defaults.guidance_scale),
            seed: 0,
        };
        let info = ModelInfo {
            backend: "ggml",
            model_version: model_version(&model),
            quantization: Some(model.info().quantization()),
            device: model.device(),
            loaded: Some(true),
        };
        Ok(Self {
            channels: model.params().channels as u16,
            model: Mutex::new(Some(model)),
            last_used: Mutex::new(Instant::now()),
            keep,
            path: path.to_owned(),
            loaded_from: Mutex::new(loaded_from),
            threads,
            device: device.to_owned(),
            live_radios: AtomicUsize::new(0),
            tracks_waiting: AtomicUsize::new(0),
            sampling,
            info,
            step_delay: test_step_delay(),
        })
    }
}

fn load_model(path: &Path, threads: usize, device: &str) -> Result<Musicgen, String> {
    let model =
        Musicgen::load(path, threads, device).map_err(|e| format!("cannot load model {}: {e}", path.display()))?;
    if model.params().sample_rate != crate::SAMPLE_RATE {
        return Err(format!(
            "model {} makes {} Hz audio; lofi-daemon plays {} Hz",
            path.display(),
            model.params().sample_rate,
            crate::SAMPLE_RATE
        ));
    }
    Ok(model)
}

/// The cache keys tracks by model version: name, quantization and size tell files apart without
/// reading hundreds of MB at start-up.
fn model_version(model: &Musicgen) -> String {
    let summary = model.info();
    format!(
        "{}-{}-{}",
        summary.name,
        summary.quantization().to_lowercase(),
        summary.file_size
    )
}

impl GgmlBackend {
    /// Runs `work` on the model, loading it again first if it was handed back or its file was
    /// written over. Cut shorter while `work` ran, the file's lost pages read as zeros: what it
    /// made is dropped.
    fn with_model<T>(&self, work: impl FnOnce(&mut Musicgen) -> Result<T, BackendError>) -> Result<T, BackendError> {
        let mut slot = self.model.lock().unwrap_or_else(|e| e.into_inner());
        self.load_if_needed(&mut slot)?;
        let model = slot.as_mut().expect("loaded above");
        let result = work(model);
        *self.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        if model.file_damaged() {
            return Err(BackendError::Inference(format!(
                "model file {} was written over while in use, so what it was making is dropped (copy a new model beside it and rename it over)",
                self.path.display()
            )));
        }
        result
    }

    /// Loads the model into `slot` if it is empty, or if its file was written over in place
    /// since (its mapped weights may no longer be the model's). A file changed since the daemon
    /// started would make tracks under the old model's version: it is refused.
    fn load_if_needed(&self, slot: &mut Option<Musicgen>) -> Result<(), BackendError> {
        let mut loaded_from = self.loaded_from.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(model) = slot.as_ref() {
            let damaged = model.file_damaged();
            if self.live_radios.load(Ordering::SeqCst) > 0 {
                // A radio's run of the model cannot outlive it: with pages lost the radio ends;
                // written over without a loss (touched, or no shorter) it goes on, reading what
                // the mapped pages hold now.
                if damaged {
                    return Err(BackendError::Inference(format!(
                        "model file {} was written over while the radio used it; start the radio again to load it anew",
                        self.path.display()
                    )));
                }
            } else if damaged || loaded_from.as_ref().is_some_and(|file| file.written_over(&self.path)) {
                tracing::warn!(
                    "model file {} was written over while loaded: loading it again",
                    self.path.display()
                );
                *slot = None;
            }
        }
        if slot.is_some() {
            return Ok(());
        }
        let model = load_model(&self.path, self.threads, &self.device).map_err(BackendError::Inference)?;
        *loaded_from = FileStamp::of(&self.path);
        if model_version(&model) != self.info.model_version {
            return Err(BackendError::Inference(format!(
                "model file {} changed since the daemon loaded it; restart the daemon to use it",
                self.path.display()
            )));
        }
        tracing::info!("model loaded again: {}", self.path.display());
        *slot = Some(model);
        Ok(())
    }

    fn delay_step(&self) {
        if let Some(delay) = self.step_delay {
            std::thread::sleep(delay);
        }
    }

    /// One track, its audio also handed to `stream` as it is decoded (see
    /// [`Backend::generate_streaming`]).
    fn track(
        &self,
        request: &GenerationRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
        stream: Option<&mut AudioSink<'_>>,
    ) -> Result<Generated, BackendError> {
        let waiting = Waiting::on(&self.tracks_waiting);
        self.with_model(|model| {
            drop(waiting);
            self.track_on(model, request, progress, cancel, stream)
        })
    }

    fn track_on(
        &self,
        model: &mut Musicgen,
        request: &GenerationRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
        stream: Option<&mut AudioSink<'_>>,
    ) -> Result<Generated, BackendError> {
        let frames = (request.duration_sec * f64::from(model.params().frame_rate)).ceil() as usize;
        let sampling = Sampling {
            seed: request.seed,
            ..self.sampling
        };
        let on_step = |step, steps| {
            progress(Progress {
                tokens_generated: step as u64,
                tokens_estimated: steps as u64,
            });
            self.delay_step();
            !cancel.load(Ordering::Relaxed)
        };
        let channels = usize::from(self.channels);
        let wanted = request.sample_count() * channels;
        let track = match stream {
            Some(stream) => {
                // A safe running gain and the limiter, a second at a time; the track is
                // mastered as a whole below, as the cache keeps it.
                let mut master = StreamMaster::new(self.channels);
                let mut piece = Vec::new();
                let mut sent = 0;
                let mut hand_over = |piece: &mut Vec<f32>, stream: &mut dyn FnMut(&[f32])| {
                    master.process(piece);
                    let take = piece.len().min(wanted - sent);
                    stream(&piece[..take]);
                    sent += take;
                    piece.clear();
                };
                let second = crate::SAMPLE_RATE as usize * channels;
                let mut gather = |chunk: &[f32]| {
                    piece.extend_from_slice(chunk);
                    if piece.len() >= second {
                        hand_over(&mut piece, stream);
                    }
                };
                let track = model.generate_track(&request.prompt, frames, &sampling, on_step, Some(&mut gather));
                if !piece.is_empty() {
                    hand_over(&mut piece, stream);
                }
                track
            }
            None => model.generate_track(&request.prompt, frames, &sampling, on_step, None),
        }
        .map_err(backend_error)?;
        let mut audio = Audio {
            samples: track.samples,
            sample_rate: crate::SAMPLE_RATE,
            channels: track.channels as u16,
        };
        audio.samples.truncate(wanted);
        // Same loudness as the procedural tracks, so crossfades between them stay level.
        super::master::master(&mut audio);
        Ok(Generated {
            audio,
            tokens_actual: track.steps as u64,
        })
    }
}

fn backend_error(e: RunError) -> BackendError {
    match e {
        RunError::Cancelled => BackendError::Cancelled,
        RunError::Failed(e) => BackendError::Inference(e.0),
    }
}

/// Counts a thread waiting, while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn on(count: &'a AtomicUsize) -> Waiting<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// MusicGen's endless stream: one window (20–30 s) a stretch, each continuing the last.
struct GgmlRadio<'a> {
    backend: &'a GgmlBackend,
    radio: Radio,
    seed: u64,
}

impl RadioSource for GgmlRadio<'_> {
    fn next(&mut self, prompt: &str, cancel: &AtomicBool, audio: &mut dyn FnMut(&[f32])) -> Result<(), BackendError> {
        // The model is locked for one window: a generation asked for meanwhile waits for it.
        let backend = self.backend;
        let sampling = Sampling {
            seed: self.seed,
            ..backend.sampling
        };
        let progress = |_, _| {
            backend.delay_step();
            !cancel.load(Ordering::Relaxed)
        };
        while backend.tracks_waiting.load(Ordering::SeqCst) > 0 {
            if cancel.load(Ordering::Relaxed) {
                return Err(BackendError::Cancelled);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let radio = &mut self.radio;
        backend.with_model(|model| {
            radio
                .next_window(model, prompt, &sampling, progress, audio)
                .map_err(backend_error)
        })
    }

    fn channels(&self) -> u16 {
        self.backend.channels()
    }

    fn start_over(&mut self) {
        self.radio.start_over();
    }
}

impl Drop for GgmlRadio<'_> {
    fn drop(&mut self) {
        self.backend.live_radios.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Backend for GgmlBackend {
    fn info(&self) -> ModelInfo {
        // try_lock: a generation holds the lock, and the model is loaded then.
        let loaded = self.model.try_lock().map_or(true, |slot| slot.is_some());
        ModelInfo {
            loaded: Some(loaded),
            ..self.info.clone()
        }
    }

    fn release_if_unused(&self) {
        let Some(keep) = self.keep else { return };
        // A busy model (a generation or a radio window holds the lock) is in use.
        let Ok(mut slot) = self.model.try_lock() else { return };
        let unused = self.last_used.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
        if slot.is_some() && unused >= keep && self.live_radios.load(Ordering::SeqCst) == 0 {
            *slot = None;
            tracing::info!("model handed back after {} s unused", unused.as_secs());
        }
    }

    fn channels(&self) -> u16 {
        self.channels
    }

    fn generate(
        &self,
        request: &GenerationRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<Generated, BackendError> {
        self.track(request, progress, cancel, None)
    }

    fn generate_streaming(
        &self,
        request: &GenerationRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
        audio: &mut dyn FnMut(&[f32]),
    ) -> Result<Generated, BackendError> {
        self.track(request, progress, cancel, Some(audio))
    }

    fn radio(&self, seed: u64) -> Box<dyn RadioSource + '_> {
        self.live_radios.fetch_add(1, Ordering::SeqCst);
        Box::new(GgmlRadio {
            backend: self,
            radio: Radio::new(),
            seed,
        })
    }
}
