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
    state: RunState,
}

/// A run's state set aside while the model does other work (a radio between its windows):
/// [`Musicgen::resume`] goes on with it.
pub struct RunState {
    ptr: *mut raw::lofi_musicgen_state,
    /// The model the state was made for (its sizes); only that model may resume it.
    model: *const raw::lofi_musicgen,
}

// SAFETY: the C state is plain data owned by this handle; nothing else points into it.
unsafe impl Send for RunState {}

impl Drop for RunState {
    fn drop(&mut self) {
        // SAFETY: created by lofi_musicgen_state_new, freed once.
        unsafe { raw::lofi_musicgen_state_free(self.ptr) }
    }
}

/// Hands streamed samples from C to the Rust closure; a panic there is caught (the samples are
/// lost, the run goes on and its progress callback decides).
extern "C" fn audio_trampoline<A: FnMut(&[f32])>(user: *mut c_void, samples: *const f32, n: i64) {
    // SAFETY: user is the &mut A passed with this trampoline; samples holds n floats for the call.
    let callback = unsafe { &mut *(user as *mut A) };
    let samples = unsafe { slice(samples, n as usize) };
    let _ = catch_unwind(AssertUnwindSafe(|| callback(samples)));
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
        let ptr = unsafe { raw::lofi_musicgen_state_new(self.ptr) };
        let state = RunState { ptr, model: self.ptr };
        Run { model: self, state }
    }

    /// Goes on with a run set aside by [`Run::into_state`].
    ///
    /// # Panics
    /// When the state was made by another model.
    pub fn resume(&mut self, state: RunState) -> Run<'_> {
        assert!(
            std::ptr::eq(state.model, self.ptr),
            "a run state goes on only on its own model"
        );
        Run { model: self, state }
    }
}

impl Run<'_> {
    pub fn model(&self) -> &Musicgen {
        self.model
    }

    /// Sets the run aside, freeing the model for other work.
    pub fn into_state(self) -> RunState {
        self.state
    }

    /// Encodes the prompt's token ids with T5; later stages read the states from the run.
    pub fn encode_text(&mut self, ids: &[i32]) -> Result<(), GgmlError> {
        let mut err = ErrorBuffer::new();
        // SAFETY: ids.len() ids.
        let ok = unsafe {
            raw::lofi_musicgen_encode_text(
                self.model.ptr,
                self.state.ptr,
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
            let data = raw::lofi_musicgen_state_text(self.state.ptr, &mut tokens);
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
                self.state.ptr,
                guidance_scale,
                out.as_mut_ptr(),
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok).map(|()| out)
    }

    /// Replaces the run's codes (codebook-major, whole frames; see [`leading_frames`]): an audio
    /// prompt to continue, or codes to decode.
    pub fn set_codes(&mut self, codes: &[i32]) -> Result<(), GgmlError> {
        let books = self.model.params().codebooks;
        if !codes.len().is_multiple_of(books) {
            return Err(GgmlError("codes must be whole frames".into()));
        }
        let mut err = ErrorBuffer::new();
        // SAFETY: codes holds codebooks × frames.
        let ok = unsafe {
            raw::lofi_musicgen_state_set_codes(
                self.state.ptr,
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
        progress: F,
    ) -> Result<(), RunError> {
        self.decoder_run(prompt_frames, new_frames, sampling, progress, None::<fn(&[f32])>)
    }

    /// [`Run::generate`], streaming: EnCodec decodes the new frames about a second at a time
    /// while the decoder goes on, and `audio` receives the samples that no later frame can
    /// change, in order. The stream goes on across runs (each continuing the last), so its
    /// samples join without a seam; [`Run::finish_stream`] decodes the last few frames. A
    /// cancelled or failed run ends the stream.
    pub fn generate_streaming<F: FnMut(usize, usize) -> bool, A: FnMut(&[f32])>(
        &mut self,
        prompt_frames: usize,
        new_frames: usize,
        sampling: &Sampling,
        progress: F,
        audio: A,
    ) -> Result<(), RunError> {
        self.decoder_run(prompt_frames, new_frames, sampling, progress, Some(audio))
    }

    fn decoder_run<F: FnMut(usize, usize) -> bool, A: FnMut(&[f32])>(
        &mut self,
        prompt_frames: usize,
        new_frames: usize,
        sampling: &Sampling,
        mut progress: F,
        mut audio: Option<A>,
    ) -> Result<(), RunError> {
        // SAFETY: a loaded model.
        let mut params = unsafe { raw::lofi_musicgen_default_run_params(self.model.ptr) };
        params.prompt_frames = prompt_frames as i64;
        params.new_frames = new_frames as i64;
        params.sampling = (*sampling).into();
        params.progress = Some(progress_trampoline::<F>);
        params.progress_user = &mut progress as *mut F as *mut c_void;
        if let Some(audio) = audio.as_mut() {
            params.audio = Some(audio_trampoline::<A>);
            params.audio_user = audio as *mut A as *mut c_void;
        }
        let mut err = ErrorBuffer::new();
        // SAFETY: the closures outlive the call.
        let status =
            unsafe { raw::lofi_musicgen_generate(self.model.ptr, self.state.ptr, &params, err.ptr(), err.capacity()) };
        match status {
            raw::LOFI_OK => Ok(()),
            raw::LOFI_CANCELLED => Err(RunError::Cancelled),
            _ => Err(RunError::Failed(err.into_error())),
        }
    }

    /// Ends the stream: decodes the frames it held back (they had no frames after them yet).
    pub fn finish_stream(&mut self, mut audio: impl FnMut(&[f32])) -> Result<(), GgmlError> {
        fn finish<A: FnMut(&[f32])>(run: &mut Run<'_>, audio: &mut A) -> Result<(), GgmlError> {
            let mut err = ErrorBuffer::new();
            // SAFETY: the closure outlives the call.
            let ok = unsafe {
                raw::lofi_musicgen_stream_finish(
                    run.model.ptr,
                    run.state.ptr,
                    Some(audio_trampoline::<A>),
                    audio as *mut A as *mut c_void,
                    err.ptr(),
                    err.capacity(),
                )
            };
            err.check(ok)
        }
        finish(self, &mut audio)
    }

    /// Keeps only the last `frames` frames of codes: what the next run continues (memory stays
    /// bounded however long a stream goes on).
    pub fn keep_last(&mut self, frames: usize) {
        // SAFETY: a live state.
        unsafe { raw::lofi_musicgen_state_keep_last(self.state.ptr, frames as i64) }
    }

    /// Frames of codes the run holds.
    pub fn frames(&self) -> usize {
        // SAFETY: a live state.
        unsafe { raw::lofi_musicgen_state_frames(self.state.ptr) as usize }
    }

    /// The guided logits of the last run's last step: codebooks × codebook_size (empty before a
    /// run). With an audio prompt they are the model's prediction after it, so two caches can be
    /// compared at any position.
    pub fn last_logits(&self) -> &[f32] {
        let mut n = 0usize;
        // SAFETY: n floats owned by the state, borrowed as long as self.
        unsafe {
            let data = raw::lofi_musicgen_state_last_logits(self.state.ptr, &mut n);
            slice(data, n)
        }
    }

    /// The run's codes: codebooks × frames, codebook-major.
    pub fn codes(&self) -> Vec<i32> {
        let mut out = vec![0i32; self.frames() * self.model.params().codebooks];
        // SAFETY: out holds codebooks × frames.
        unsafe { raw::lofi_musicgen_state_codes(self.state.ptr, out.as_mut_ptr()) };
        out
    }

    /// EnCodec over the run's codes: `frames × hop_length` samples per channel (interleaved) at `sample_rate`, both
    /// stages in chunks of `chunk_frames` (0 = the defaults; the result does not depend on it,
    /// only the memory it takes).
    pub fn decode_audio(&mut self, chunk_frames: usize) -> Result<&[f32], GgmlError> {
        let mut err = ErrorBuffer::new();
        // SAFETY: a loaded model and a live state.
        let ok = unsafe {
            raw::lofi_musicgen_decode_audio(
                self.model.ptr,
                self.state.ptr,
                chunk_frames as i64,
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok)?;
        let mut samples = 0;
        // SAFETY: the audio lives in the run until it changes, which takes &mut self.
        Ok(unsafe { slice(raw::lofi_musicgen_state_audio(self.state.ptr, &mut samples), samples) })
    }
}

/// The first `keep` frames of codebook-major `codes` of `frames` frames, codebook-major: an
/// audio prompt cut from codes a run made.
pub fn leading_frames(codes: &[i32], frames: usize, keep: usize) -> Vec<i32> {
    codes.chunks(frames).flat_map(|book| &book[..keep]).copied().collect()
}

/// A C array as a slice (empty for a null pointer).
unsafe fn slice<'a, T>(data: *const T, len: usize) -> &'a [T] {
    if data.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data, len)
    }
}
