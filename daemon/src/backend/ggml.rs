//! The `ggml` backend: MusicGen (T5 → decoder LM → EnCodec) on GGML, through ggml-sys.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use ggml_sys::{inspect_model, Musicgen, MusicgenParams, RunError, Sampling};

use super::{Backend, BackendError, Generated, GenerationRequest, ModelInfo, Progress};

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
    sampling: Sampling,
    info: ModelInfo,
}

impl GgmlBackend {
    /// Loads `path` to compute with `threads` CPU threads on `device` (see [`Musicgen::load`]);
    /// the error is one line for the user.
    pub fn load(path: &Path, threads: usize, device: &str, overrides: SamplingOverrides) -> Result<Self, String> {
        let summary = inspect_model(path).map_err(|e| format!("cannot load model {}: {e}", path.display()))?;
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
        let defaults = model.params().default_sampling;
        let sampling = Sampling {
            temperature: overrides.temperature.unwrap_or(defaults.temperature),
            top_k: overrides.top_k.unwrap_or(defaults.top_k),
            top_p: overrides.top_p.unwrap_or(defaults.top_p),
            guidance_scale: overrides.guidance_scale.unwrap_or(defaults.guidance_scale),
            seed: 0,
        };
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
            model: Mutex::new(model),
            sampling,
            info,
        })
    }
}

impl GgmlBackend {
    /// The track's codes (codebook-major), window by window (see [`plan_windows`]), and the
    /// decoder steps they took.
    fn codes_in_windows(
        &self,
        model: &mut Musicgen,
        hidden: &[f32],
        frames: usize,
        seed: u64,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<(Vec<i32>, usize), BackendError> {
        let params = *model.params();
        let windows = plan_windows(frames, &params);
        // Each window is a decoder run over its frames plus the delay pattern's steps.
        let delay = params.codebooks - 1;
        let tokens_estimated: usize = windows.iter().map(|w| w.prompt + w.new + delay).sum();
        let mut tokens_done = 0;
        let mut codes: Vec<Vec<i32>> = vec![Vec::with_capacity(frames); params.codebooks]; // [codebook][frame]
        for (index, window) in windows.iter().enumerate() {
            let audio_prompt: Vec<i32> = codes
                .iter()
                .flat_map(|book| book[book.len() - window.prompt..].iter().copied())
                .collect();
            let sampling = Sampling {
                seed: seed.wrapping_add(index as u64),
                ..self.sampling
            };
            let window_frames = window.prompt + window.new;
            let result = model.continue_codes(hidden, &audio_prompt, window_frames, &sampling, |step, _| {
                progress(Progress {
                    tokens_generated: (tokens_done + step) as u64,
                    tokens_estimated: tokens_estimated as u64,
                });
                !cancel.load(Ordering::Relaxed)
            });
            let window_codes = match result {
                Ok(codes) => codes,
                Err(RunError::Cancelled) => return Err(BackendError::Cancelled),
                Err(RunError::Failed(e)) => return Err(BackendError::Inference(e.0)),
            };
            for (book, generated) in codes.iter_mut().zip(window_codes.chunks(window_frames)) {
                book.extend_from_slice(&generated[window.prompt..]);
            }
            tokens_done += window_frames + delay;
        }
        Ok((codes.concat(), tokens_done))
    }
}

impl Backend for GgmlBackend {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn generate(
        &self,
        request: &GenerationRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<Generated, BackendError> {
        let mut model = self.model.lock().unwrap_or_else(|e| e.into_inner());
        let params = *model.params();
        let frames = (request.duration_sec * f64::from(params.frame_rate)).ceil() as usize;
        let inference = |e: ggml_sys::GgmlError| BackendError::Inference(e.0);
        let ids = model.tokenize(&request.prompt).map_err(inference)?;
        let hidden = model.encode_text(&ids).map_err(inference)?;
        let (codes, steps_done) = self.codes_in_windows(&mut model, &hidden, frames, request.seed, progress, cancel)?;
        let mut samples = model.decode_audio(&codes, frames).map_err(inference)?;
        samples.truncate(request.sample_count());
        // Same loudness as the procedural tracks, so crossfades between them stay level.
        super::master::master(&mut samples);
        Ok(Generated {
            samples,
            tokens_actual: steps_done as u64,
        })
    }
}

/// How many seconds of the previous window a window continues: audiocraft extends a track with
/// windows of 30 s that keep the last 10 s as the audio prompt.
const WINDOW_SEC: usize = 30;
const CONTEXT_SEC: usize = 10;

/// One decoder run: `prompt` frames fed from the track so far, then `new` frames generated.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    prompt: usize,
    new: usize,
}

/// Splits `frames` into decoder runs: one when the model's context holds the track, otherwise a
/// first window and continuations that each keep the end of the track so far as their prompt
/// (so the music goes on from it rather than starting again).
fn plan_windows(frames: usize, params: &MusicgenParams) -> Vec<Window> {
    if frames <= params.max_frames {
        return vec![Window { prompt: 0, new: frames }];
    }
    let rate = params.frame_rate as usize;
    let window = params.max_frames.min(WINDOW_SEC * rate);
    let prompt = (CONTEXT_SEC * rate).min(window / 3);
    let mut windows = vec![Window { prompt: 0, new: window }];
    let mut done = window;
    while done < frames {
        let new = (window - prompt).min(frames - done);
        windows.push(Window { prompt, new });
        done += new;
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(max_frames: usize) -> MusicgenParams {
        MusicgenParams {
            t5_width: 768,
            codebooks: 4,
            codebook_size: 2048,
            sample_rate: 32_000,
            frame_rate: 50,
            hop_length: 640,
            max_frames,
            default_sampling: Sampling {
                guidance_scale: 3.0,
                temperature: 1.0,
                top_k: 250,
                top_p: 0.0,
                seed: 0,
            },
        }
    }

    #[test]
    fn tracks_past_the_context_continue_in_windows() {
        let small = params(2044); // musicgen-small: 2048 positions
        assert_eq!(plan_windows(1500, &small), vec![Window { prompt: 0, new: 1500 }]);
        assert_eq!(plan_windows(2044, &small), vec![Window { prompt: 0, new: 2044 }]);
        // 2 minutes: 30 s, then 20 s more at a time, each after the last 10 s.
        let windows = plan_windows(6000, &small);
        assert_eq!(windows[0], Window { prompt: 0, new: 1500 });
        assert!(windows[1..].iter().all(|w| w.prompt == 500 && w.prompt + w.new <= 1500));
        assert_eq!(windows.iter().map(|w| w.new).sum::<usize>(), 6000);
        assert_eq!(windows.len(), 1 + 4500usize.div_ceil(1000));
        // A small context: a third of it is the prompt.
        let tiny = plan_windows(750, &params(508));
        assert_eq!(
            tiny,
            vec![Window { prompt: 0, new: 508 }, Window { prompt: 169, new: 242 }]
        );
    }
}
