//! The `ggml` backend: MusicGen on GGML (the `musicgen` crate) behind the [`Backend`] trait.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use musicgen::{AudioSink, Musicgen, Radio, RunError, Sampling};

use crate::audio::Audio;
use crate::backend::master::StreamMaster;

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
    model: Mutex<Musicgen>,
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
    /// Loads `path` to compute with `threads` CPU threads on `device` (see [`Musicgen::load`]);
    /// the error is one line for the user.
    pub fn load(path: &Path, threads: usize, device: &str, overrides: SamplingOverrides) -> Result<Self, String> {
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
        let defaults = model.default_sampling();
        let sampling = Sampling {
            temperature: overrides.temperature.unwrap_or(defaults.temperature),
            top_k: overrides.top_k.unwrap_or(defaults.top_k),
            top_p: overrides.top_p.unwrap_or(defaults.top_p),
            guidance_scale: overrides.guidance_scale.unwrap_or(defaults.guidance_scale),
            seed: 0,
        };
        let summary = model.info();
        let quantization = summary.quantization();
        let info = ModelInfo {
            backend: "ggml",
            // The cache keys tracks by model version: name, quantization and size tell files apart
            // without reading hundreds of MB at start-up.
            model_version: format!("{}-{}-{}", summary.name, quantization.to_lowercase(), summary.file_size),
            quantization: Some(quantization),
            device: model.device(),
        };
        Ok(Self {
            channels: model.params().channels as u16,
            model: Mutex::new(model),
            sampling,
            info,
            step_delay: test_step_delay(),
        })
    }
}

impl GgmlBackend {
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
        let mut model = self.model.lock().unwrap_or_else(|e| e.into_inner());
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

/// MusicGen's endless stream: one window (20–30 s) a stretch, each continuing the last.
struct GgmlRadio<'a> {
    backend: &'a GgmlBackend,
    radio: Radio,
    seed: u64,
}

impl RadioSource for GgmlRadio<'_> {
    fn next(&mut self, prompt: &str, cancel: &AtomicBool, audio: &mut dyn FnMut(&[f32])) -> Result<(), BackendError> {
        // The model is locked for one window: a generation asked for meanwhile waits for it.
        let mut model = self.backend.model.lock().unwrap_or_else(|e| e.into_inner());
        let sampling = Sampling {
            seed: self.seed,
            ..self.backend.sampling
        };
        let progress = |_, _| {
            self.backend.delay_step();
            !cancel.load(Ordering::Relaxed)
        };
        self.radio
            .next_window(&mut model, prompt, &sampling, progress, audio)
            .map_err(backend_error)
    }

    fn channels(&self) -> u16 {
        self.backend.channels()
    }
}

impl Backend for GgmlBackend {
    fn info(&self) -> ModelInfo {
        self.info.clone()
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
        Box::new(GgmlRadio {
            backend: self,
            radio: Radio::new(),
            seed,
        })
    }
}
