//! MusicGen inference: prompt -> T5 -> decoder LM (delay pattern, CFG, sampling) -> EnCodec.
use std::ffi::{c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use ggml_sys::{c_path, raw, ErrorBuffer, GgmlError};

use crate::check::{check, ModelInfo};
use crate::tokenizer::T5Tokenizer;

/// What the loaded model is and how it samples by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MusicgenParams {
    pub t5_width: usize,
    pub codebooks: usize,
    pub codebook_size: usize,
    pub sample_rate: u32,
    pub frame_rate: u32,
    /// Samples per frame.
    pub hop_length: usize,
    /// The longest generation the decoder's context allows.
    pub max_frames: usize,
    pub default_sampling: Sampling,
}

/// How tokens are drawn from the guided logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    pub guidance_scale: f32,
    /// 0 = greedy.
    pub temperature: f32,
    /// 0 = all tokens, 1 = greedy.
    pub top_k: i32,
    /// 0 = off.
    pub top_p: f32,
    pub seed: u64,
}

/// Why a decoder run ended without codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The progress callback returned false.
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Failed(#[from] GgmlError),
}

/// A loaded MusicGen GGUF (weights memory-mapped). Not shareable between threads at once:
/// every call takes `&mut self`.
pub struct Musicgen {
    ptr: *mut raw::lofi_musicgen,
    params: MusicgenParams,
    info: ModelInfo,
    tokenizer: T5Tokenizer,
}

// SAFETY: the engine keeps no thread-bound state; &mut self serialises calls.
unsafe impl Send for Musicgen {}

/// The trampoline for the closure `_progress` (which names its type, which cannot be written).
fn progress_trampoline_for<F: FnMut(usize, usize) -> bool>(
    _progress: &F,
) -> unsafe extern "C" fn(*mut c_void, i64, i64) -> bool {
    progress_trampoline::<F>
}

/// Calls the Rust progress closure from C; a panic inside cancels instead of unwinding into C.
extern "C" fn progress_trampoline<F: FnMut(usize, usize) -> bool>(user: *mut c_void, step: i64, steps: i64) -> bool {
    // SAFETY: user is the &mut F passed to lofi_musicgen_generate_codes for this call only.
    let callback = unsafe { &mut *(user as *mut F) };
    catch_unwind(AssertUnwindSafe(|| callback(step as usize, steps as usize))).unwrap_or(false)
}

impl Musicgen {
    /// Checks `path` (as [`crate::inspect_model`]: the same checks, run once) and loads it, to
    /// compute with `threads` CPU threads on `device`: "auto" (the first GPU this build can use,
    /// else the CPU), "cpu", "cuda", "vulkan" or "metal" (an error when the build or the
    /// machine has none).
    pub fn load(path: &Path, threads: usize, device: &str) -> Result<Self, GgmlError> {
        let (info, tokenizer) = check(path)?;
        let c_path = c_path(path)?;
        let c_device = CString::new(device).map_err(|_| GgmlError(format!("unknown device {device:?}")))?;
        let mut err = ErrorBuffer::new();
        // SAFETY: valid path, device name and error buffer.
        let ptr = unsafe {
            raw::lofi_musicgen_load(
                c_path.as_ptr(),
                threads.max(1) as i32,
                c_device.as_ptr(),
                err.ptr(),
                err.capacity(),
            )
        };
        if ptr.is_null() {
            return Err(err.into_error());
        }
        let mut p = std::mem::MaybeUninit::<raw::lofi_musicgen_params>::zeroed();
        // SAFETY: valid handle; fills the struct.
        let p = unsafe {
            raw::lofi_musicgen_get_params(ptr, p.as_mut_ptr());
            p.assume_init()
        };
        let params = MusicgenParams {
            t5_width: p.t5_width as usize,
            codebooks: p.codebooks as usize,
            codebook_size: p.codebook_size as usize,
            sample_rate: p.sample_rate,
            frame_rate: p.frame_rate,
            hop_length: p.hop_length as usize,
            max_frames: p.max_frames as usize,
            default_sampling: Sampling {
                guidance_scale: p.guidance_scale,
                temperature: p.temperature,
                top_k: p.top_k as i32,
                top_p: p.top_p,
                seed: 0,
            },
        };
        Ok(Self {
            ptr,
            params,
            info,
            tokenizer,
        })
    }

    pub fn params(&self) -> &MusicgenParams {
        &self.params
    }

    /// What the file is (as [`crate::inspect_model`] reports it).
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The device that computes: "cpu", "cuda", "vulkan" or "metal".
    pub fn device(&self) -> String {
        // SAFETY: a NUL-terminated string owned by the model, copied before it can go.
        unsafe { CStr::from_ptr(raw::lofi_musicgen_device(self.ptr)) }
            .to_string_lossy()
            .into_owned()
    }

    /// T5 token ids for a prompt (ending with `</s>`).
    pub fn tokenize(&self, prompt: &str) -> Result<Vec<i32>, GgmlError> {
        self.tokenizer.encode(prompt)
    }

    /// T5's last hidden state: tokens × t5_width floats, token-major.
    pub fn encode_text(&mut self, ids: &[i32]) -> Result<Vec<f32>, GgmlError> {
        let mut out = vec![0f32; ids.len() * self.params.t5_width];
        let mut err = ErrorBuffer::new();
        // SAFETY: out holds ids.len() × t5_width floats.
        let ok = unsafe {
            raw::lofi_musicgen_encode_text(
                self.ptr,
                ids.as_ptr(),
                ids.len(),
                out.as_mut_ptr(),
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok).map(|()| out)
    }

    fn tokens_of(&self, t5_hidden: &[f32]) -> Result<usize, GgmlError> {
        let width = self.params.t5_width;
        if t5_hidden.is_empty() || !t5_hidden.len().is_multiple_of(width) {
            return Err(GgmlError(format!("text states must be tokens x {width} floats")));
        }
        Ok(t5_hidden.len() / width)
    }

    /// The first decoding step's guided logits: codebooks × codebook_size.
    pub fn first_logits(&mut self, t5_hidden: &[f32], guidance_scale: f32) -> Result<Vec<f32>, GgmlError> {
        let tokens = self.tokens_of(t5_hidden)?;
        let mut out = vec![0f32; self.params.codebooks * self.params.codebook_size];
        let mut err = ErrorBuffer::new();
        // SAFETY: sizes as the C API documents.
        let ok = unsafe {
            raw::lofi_musicgen_first_logits(
                self.ptr,
                t5_hidden.as_ptr(),
                tokens,
                guidance_scale,
                out.as_mut_ptr(),
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok).map(|()| out)
    }

    /// Audio codes for `frames` frames, codebook-major. `progress(step, steps)` runs after each
    /// decoder step; returning false cancels ([`RunError::Cancelled`]).
    pub fn generate_codes<F: FnMut(usize, usize) -> bool>(
        &mut self,
        t5_hidden: &[f32],
        frames: usize,
        sampling: &Sampling,
        progress: F,
    ) -> Result<Vec<i32>, RunError> {
        self.continue_codes(t5_hidden, &[], frames, sampling, progress)
    }

    /// [`Self::generate_codes`] whose first frames are `audio_prompt`'s (codebook-major, whole
    /// frames, fewer than `frames`): the decoder reads them instead of sampling, and the rest
    /// of the `frames` continue them. The result holds all `frames`, prompt included.
    pub fn continue_codes<F: FnMut(usize, usize) -> bool>(
        &mut self,
        t5_hidden: &[f32],
        audio_prompt: &[i32],
        frames: usize,
        sampling: &Sampling,
        mut progress: F,
    ) -> Result<Vec<i32>, RunError> {
        let tokens = self.tokens_of(t5_hidden)?;
        if frames == 0 || frames > self.params.max_frames {
            return Err(GgmlError(format!("frames must be 1 to {}", self.params.max_frames)).into());
        }
        if !audio_prompt.len().is_multiple_of(self.params.codebooks) {
            return Err(GgmlError("the audio prompt must be whole frames".into()).into());
        }
        let prompt_frames = audio_prompt.len() / self.params.codebooks;
        let mut codes = vec![0i32; self.params.codebooks * frames];
        let sampling = raw::lofi_sampling {
            guidance_scale: sampling.guidance_scale,
            temperature: sampling.temperature,
            top_k: sampling.top_k,
            top_p: sampling.top_p,
            seed: sampling.seed,
        };
        let mut cancelled = false;
        let mut progress = |step, steps| {
            let go_on = progress(step, steps);
            cancelled |= !go_on;
            go_on
        };
        let mut err = ErrorBuffer::new();
        // SAFETY: codes holds codebooks × frames, audio_prompt codebooks × prompt_frames; the
        // closure outlives the call.
        let ok = unsafe {
            raw::lofi_musicgen_generate_codes(
                self.ptr,
                t5_hidden.as_ptr(),
                tokens,
                frames as i64,
                audio_prompt.as_ptr(),
                prompt_frames as i64,
                &sampling,
                Some(progress_trampoline_for(&progress)),
                &mut progress as *mut _ as *mut c_void,
                codes.as_mut_ptr(),
                err.ptr(),
                err.capacity(),
            )
        };
        match err.check(ok) {
            Ok(()) => Ok(codes),
            Err(_) if cancelled => Err(RunError::Cancelled),
            Err(e) => Err(RunError::Failed(e)),
        }
    }

    /// EnCodec: codes (codebook-major, frames per codebook) to mono samples at `sample_rate`.
    pub fn decode_audio(&mut self, codes: &[i32], frames: usize) -> Result<Vec<f32>, GgmlError> {
        self.decode_audio_in_chunks(codes, frames, 0)
    }

    /// [`Self::decode_audio`] with both stages in chunks of `chunk_frames` (0 = the defaults);
    /// the result does not depend on the chunk size, only the memory it takes.
    pub fn decode_audio_in_chunks(
        &mut self,
        codes: &[i32],
        frames: usize,
        chunk_frames: usize,
    ) -> Result<Vec<f32>, GgmlError> {
        if frames == 0 || codes.len() != frames * self.params.codebooks {
            return Err(GgmlError("codes must be codebooks x frames".into()));
        }
        let mut audio = vec![0f32; frames * self.params.hop_length];
        let mut err = ErrorBuffer::new();
        // SAFETY: audio holds frames × hop_length samples.
        let ok = unsafe {
            raw::lofi_musicgen_decode_audio(
                self.ptr,
                codes.as_ptr(),
                frames as i64,
                chunk_frames as i64,
                audio.as_mut_ptr(),
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok).map(|()| audio)
    }
}

impl Drop for Musicgen {
    fn drop(&mut self) {
        // SAFETY: loaded by lofi_musicgen_load, freed once.
        unsafe { raw::lofi_musicgen_free(self.ptr) }
    }
}
