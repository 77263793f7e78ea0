//! Generation backends behind one interface: `procedural` (instant synthesis) and `ggml`
//! (MusicGen on GGML).

pub mod ggml;
pub mod master;
mod model_file;
pub mod procedural;

use std::sync::atomic::AtomicBool;

use serde::Serialize;

use crate::audio::Audio;

/// MusicGen emits 50 frames per second of audio; progress is counted in those units for
/// every backend so clients see one scale.
pub const TOKENS_PER_SECOND: f64 = 50.0;

#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    pub prompt: String,
    pub seed: u64,
    pub duration_sec: f64,
}

impl GenerationRequest {
    pub fn tokens_estimated(&self) -> u64 {
        (self.duration_sec * TOKENS_PER_SECOND).ceil() as u64
    }

    pub fn sample_count(&self) -> usize {
        (self.duration_sec * crate::SAMPLE_RATE as f64).round() as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub tokens_generated: u64,
    pub tokens_estimated: u64,
}

pub struct Generated {
    /// 32 kHz, mono (MusicGen) or stereo (procedural).
    pub audio: Audio,
    pub tokens_actual: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BackendError {
    #[error("generation was cancelled")]
    Cancelled,
    #[error("inference failed: {0}")]
    Inference(String),
}

/// What `status.model` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub backend: &'static str,
    pub quantization: Option<String>,
    /// Where generation computes: "cpu", "cuda", "vulkan" or "metal".
    pub device: String,
    pub model_version: String,
    /// Whether the model's weights are in memory (ggml: handed back after going unused for
    /// `--keep-model`, loaded again by the next generation); absent for procedural.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded: Option<bool>,
}

/// An endless stream of music (README, Radio), made a stretch at a time, each stretch's first
/// sample following the last one's.
pub trait RadioSource {
    /// Makes the next stretch on `prompt` (the prompt of the moment: a new one steers it) and
    /// hands its 32 kHz samples (interleaved frames of [`RadioSource::channels`]), not yet
    /// mastered, to `audio` as they come. Stops with
    /// [`BackendError::Cancelled`] once `cancel` is set.
    fn next(&mut self, prompt: &str, cancel: &AtomicBool, audio: &mut dyn FnMut(&[f32])) -> Result<(), BackendError>;

    /// 1 (MusicGen) or 2 (procedural).
    fn channels(&self) -> u16;

    /// The next stretch starts a new song instead of continuing the last one.
    fn start_over(&mut self) {}
}

pub trait Backend: Send + Sync {
    fn info(&self) -> ModelInfo;

    /// Channels of the tracks it makes: 1 or 2.
    fn channels(&self) -> u16;

    /// Renders one track. Calls `progress` between steps and stops with
    /// [`BackendError::Cancelled`] once `cancel` is set.
    fn generate(
        &self,
        request: &GenerationRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<Generated, BackendError>;

    /// [`Backend::generate`], handing the track's audio to `audio` as it is made, ready to play
    /// (32 kHz, interleaved frames of the track's channels, at a loudness safe from the start),
    /// so it can play before it is complete. What returns is the track as [`Backend::generate`]
    /// makes it, mastered as a whole. By default the track is rendered at once and handed over a
    /// second at a time (the procedural backend: faster than any stream).
    fn generate_streaming(
        &self,
        request: &GenerationRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
        audio: &mut dyn FnMut(&[f32]),
    ) -> Result<Generated, BackendError> {
        let generated = self.generate(request, progress, cancel)?;
        let second = crate::SAMPLE_RATE as usize * usize::from(generated.audio.channels);
        generated.audio.samples.chunks(second).for_each(&mut *audio);
        Ok(generated)
    }

    /// A radio whose stretches are sampled from `seed` on.
    fn radio(&self, seed: u64) -> Box<dyn RadioSource + '_>;

    /// Hands back what the backend keeps loaded between generations once it has gone unused
    /// for its keep time (the ggml backend's model); the next generation loads it again. The
    /// generation worker calls it now and then while it has nothing to do.
    fn release_if_unused(&self) {}
}
