//! One generation's state, kept on the C side (T5 states, the codes so far, the audio), like
//! whisper.cpp's `whisper_state`: text is encoded once, decoder runs append codes, EnCodec
//! decodes them, and nothing crosses back to Rust that the next stage needs.
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ggml_sys::{raw, ErrorBuffer, GgmlError};

use crate::engine::{Musicgen, Sampling};

/// Why a decoder run ended without codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The progress callback returned false.
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Failed(#[from] GgmlError),
}

/// A generation in progress on a model.
pub struct Run<'m> {
    model: &'m mut Musicgen,
    state: *mut raw::lofi_musicgen_state,
}

/// Calls the Rust progress closure from C; a panic inside cancels instead of unwinding into C.
extern "C" fn progress_trampoline<F: FnMut(usize, usize) -> bool>(user: *mut c_void, step: i64, steps: i64) -> bool {
    // SAFETY: user is the &mut F passed with this trampoline for one lofi_musicgen_generate call.
    let callback = unsafe { &mut *(user as *mut F) };
    catch_unwind(AssertUnwindSafe(|| callback(step as usize, steps as usize))).unwrap_or(false)
}

impl Musicgen {
    /// A new, empty run.
    pub fn run(&mut self) -> Run<'_> {
        // SAFETY: a loaded model.
        let state = unsafe { raw::lofi_musicgen_state_new(self.ptr) };
        Run { model: self, state }
    }
}

impl Run<'_> {
    pub fn model(&self) -> &Musicgen {
        self.model
    }

    /// Encodes the prompt's token ids with T5; later stages read the states from the run.
    pub fn encode_text(&mut self, ids: &[i32]) -> Result<(), GgmlError> {
        let mut err = ErrorBuffer::new();
        // SAFETY: ids.len() ids.
        let ok = unsafe {
            raw::lofi_musicgen_encode_text(
                self.model.ptr,
                self.state,
                ids.as_ptr(),
                ids.len(),
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok)
    }

    /// T5's last hidden state: tokens × t5_width floats, token-major (empty before encoding).
    pub fn text_states(&self) -> &[f32] {
        let mut tokens = 0;
        // SAFETY: the states live in the run until it changes, which takes &mut self.
        unsafe {
            let data = raw::lofi_musicgen_state_text(self.state, &mut tokens);
            slice(data, tokens * self.model.params().t5_width)
        }
    }

    /// The first decoding step's guided logits: codebooks × codebook_size.
    pub fn first_logits(&mut self, guidance_scale: f32) -> Result<Vec<f32>, GgmlError> {
        let params = self.model.params();
        let mut out = vec![0f32; params.codebooks * params.codebook_size];
        let mut err = ErrorBuffer::new();
        // SAFETY: out holds codebooks × codebook_size.
        let ok = unsafe {
            raw::lofi_musicgen_first_logits(
                self.model.ptr,
                self.state,
                guidance_scale,
                out.as_mut_ptr(),
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok).map(|()| out)
    }

    /// Replaces the run's codes (codebook-major, whole frames): an audio prompt to continue,
    /// or codes to decode.
    pub fn set_codes(&mut self, codes: &[i32]) -> Result<(), GgmlError> {
        let books = self.model.params().codebooks;
        if !codes.len().is_multiple_of(books) {
            return Err(GgmlError("codes must be whole frames".into()));
        }
        let mut err = ErrorBuffer::new();
        // SAFETY: codes holds codebooks × frames.
        let ok = unsafe {
            raw::lofi_musicgen_state_set_codes(
                self.state,
                codes.as_ptr(),
                (codes.len() / books) as i64,
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok)
    }

    /// One decoder run: feeds the run's last `prompt_frames` frames (instead of sampling them),
    /// then appends `new_frames` sampled frames that continue them. `progress(step, steps)`
    /// runs after each of the run's [`Musicgen::run_steps`] steps; returning false cancels
    /// ([`RunError::Cancelled`]).
    pub fn generate<F: FnMut(usize, usize) -> bool>(
        &mut self,
        prompt_frames: usize,
        new_frames: usize,
        sampling: &Sampling,
        mut progress: F,
    ) -> Result<(), RunError> {
        // SAFETY: a loaded model.
        let mut params = unsafe { raw::lofi_musicgen_default_run_params(self.model.ptr) };
        params.prompt_frames = prompt_frames as i64;
        params.new_frames = new_frames as i64;
        params.sampling = (*sampling).into();
        params.progress = Some(progress_trampoline::<F>);
        params.progress_user = &mut progress as *mut F as *mut c_void;
        let mut err = ErrorBuffer::new();
        // SAFETY: the closure outlives the call.
        let status =
            unsafe { raw::lofi_musicgen_generate(self.model.ptr, self.state, &params, err.ptr(), err.capacity()) };
        match status {
            raw::LOFI_OK => Ok(()),
            raw::LOFI_CANCELLED => Err(RunError::Cancelled),
            _ => Err(RunError::Failed(err.into_error())),
        }
    }

    /// Frames of codes the run holds.
    pub fn frames(&self) -> usize {
        // SAFETY: a live state.
        unsafe { raw::lofi_musicgen_state_frames(self.state) as usize }
    }

    /// The run's codes: codebooks × frames, codebook-major.
    pub fn codes(&self) -> Vec<i32> {
        let mut out = vec![0i32; self.frames() * self.model.params().codebooks];
        // SAFETY: out holds codebooks × frames.
        unsafe { raw::lofi_musicgen_state_codes(self.state, out.as_mut_ptr()) };
        out
    }

    /// EnCodec over the run's codes: `frames × hop_length` mono samples at `sample_rate`, both
    /// stages in chunks of `chunk_frames` (0 = the defaults; the result does not depend on it,
    /// only the memory it takes).
    pub fn decode_audio(&mut self, chunk_frames: usize) -> Result<&[f32], GgmlError> {
        let mut err = ErrorBuffer::new();
        // SAFETY: a loaded model and a live state.
        let ok = unsafe {
            raw::lofi_musicgen_decode_audio(
                self.model.ptr,
                self.state,
                chunk_frames as i64,
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok)?;
        let mut samples = 0;
        // SAFETY: the audio lives in the run until it changes, which takes &mut self.
        Ok(unsafe { slice(raw::lofi_musicgen_state_audio(self.state, &mut samples), samples) })
    }
}

/// A C array as a slice (empty for a null pointer).
unsafe fn slice<'a, T>(data: *const T, len: usize) -> &'a [T] {
    if data.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data, len)
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        // SAFETY: created by lofi_musicgen_state_new, freed once.
        unsafe { raw::lofi_musicgen_state_free(self.state) }
    }
}
