//! A loaded MusicGen model: what it is, its tokenizer, and the runs that compute with it.
use std::ffi::{CStr, CString};
use std::path::Path;

use ggml_sys::{c_path, c_string, raw, ErrorBuffer, GgmlError, GgufMetadata};

use crate::check::ModelInfo;
use crate::tokenizer::T5Tokenizer;

/// What the loaded model is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MusicgenParams {
    pub t5_width: usize,
    pub codebooks: usize,
    pub codebook_size: usize,
    pub sample_rate: u32,
    pub frame_rate: u32,
    /// Samples per frame.
    pub hop_length: usize,
    /// The most frames one decoder run can hold (its context).
    pub max_frames: usize,
    /// 1, or 2 for the stereo models (codebooks alternate left/right; audio is interleaved).
    pub channels: usize,
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

impl From<Sampling> for raw::lofi_sampling {
    fn from(s: Sampling) -> Self {
        raw::lofi_sampling {
            guidance_scale: s.guidance_scale,
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            seed: s.seed,
        }
    }
}

/// A loaded MusicGen GGUF (opened and checked once; weights memory-mapped). Not shareable
/// between threads at once: a run borrows it mutably.
pub struct Musicgen {
    pub(crate) ptr: *mut raw::lofi_musicgen,
    params: MusicgenParams,
    default_sampling: Sampling,
    info: ModelInfo,
    tokenizer: T5Tokenizer,
}

// SAFETY: the engine keeps no thread-bound state; &mut self serialises runs.
unsafe impl Send for Musicgen {}

impl Musicgen {
    /// Checks `path` (the checks of [`crate::inspect_model`]) and loads it, to compute with
    /// `threads` CPU threads on `device`: "auto" (the first GPU this build can use, else the
    /// CPU), "cpu", "cuda", "vulkan" or "metal" (an error when the build or the machine has none).
    pub fn load(path: &Path, threads: usize, device: &str) -> Result<Self, GgmlError> {
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
        // SAFETY (all four): a loaded model; the file handle lives as long as it does.
        let (p, info, defaults) = unsafe {
            let mut p = std::mem::MaybeUninit::<raw::lofi_musicgen_params>::zeroed();
            raw::lofi_musicgen_get_params(ptr, p.as_mut_ptr());
            let mut info = std::mem::MaybeUninit::<raw::lofi_model_info>::zeroed();
            raw::lofi_musicgen_get_info(ptr, info.as_mut_ptr());
            (
                p.assume_init(),
                info.assume_init(),
                raw::lofi_musicgen_default_run_params(ptr).sampling,
            )
        };
        // SAFETY: the loaded model keeps its file open until it is freed.
        let metadata = unsafe { GgufMetadata::from_raw(raw::lofi_musicgen_file(ptr)) };
        let tokenizer = match T5Tokenizer::from_gguf(metadata) {
            Ok(tokenizer) => tokenizer,
            Err(e) => {
                // SAFETY: loaded above, freed once.
                unsafe { raw::lofi_musicgen_free(ptr) };
                return Err(e);
            }
        };
        Ok(Self {
            ptr,
            params: MusicgenParams {
                t5_width: p.t5_width as usize,
                codebooks: p.codebooks as usize,
                codebook_size: p.codebook_size as usize,
                sample_rate: p.sample_rate,
                frame_rate: p.frame_rate,
                hop_length: p.hop_length as usize,
                max_frames: p.max_frames as usize,
                channels: p.audio_channels as usize,
            },
            default_sampling: Sampling {
                guidance_scale: defaults.guidance_scale,
                temperature: defaults.temperature,
                top_k: defaults.top_k,
                top_p: defaults.top_p,
                seed: 0,
            },
            info: ModelInfo::from_raw(&info, metadata),
            tokenizer,
        })
    }

    pub fn params(&self) -> &MusicgenParams {
        &self.params
    }

    /// How the model file says to sample (seed 0).
    pub fn default_sampling(&self) -> Sampling {
        self.default_sampling
    }

    /// What the file is (as [`crate::inspect_model`] reports it).
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The device that computes: "cpu", "cuda", "vulkan" or "metal".
    pub fn device(&self) -> String {
        // SAFETY: a NUL-terminated string owned by the model, copied before it can go.
        unsafe { model_text(raw::lofi_musicgen_device(self.ptr)) }
    }

    /// Whether pages of the model file's mapping were lost since it was loaded: the file was cut
    /// shorter under the model (written over in place), and what it computed since read zeros
    /// in their place instead of dying of SIGBUS.
    pub fn file_damaged(&self) -> bool {
        // SAFETY: reads the loaded model's flag.
        unsafe { raw::lofi_musicgen_file_damaged(self.ptr) }
    }

    /// The decoder's self-attention cache: "f32" (for F32 weights), "f16", "int8" or "int8-int4"
    /// (int8 keys, 4-bit values).
    pub fn kv_cache(&self) -> String {
        // SAFETY: a static NUL-terminated string.
        unsafe { model_text(raw::lofi_musicgen_kv_cache(self.ptr)) }
    }

    /// Sets the cache of the runs that follow: "f32", "f16", "int8" or "int8-int4" (the last two
    /// on the CPU only).
    pub fn set_kv_cache(&mut self, name: &str) -> Result<(), GgmlError> {
        let name = c_string(name)?;
        let mut err = ErrorBuffer::new();
        // SAFETY: a NUL-terminated string; err holds its capacity.
        let ok = unsafe { raw::lofi_musicgen_set_kv_cache(self.ptr, name.as_ptr(), err.ptr(), err.capacity()) };
        err.check(ok)
    }

    /// The bytes of the weights every decoder step multiplies by.
    pub fn step_weight_bytes(&self) -> usize {
        // SAFETY: reads the loaded model.
        unsafe { raw::lofi_musicgen_step_weight_bytes(self.ptr) }
    }

    /// The decoder step's weights where it reads them (placing them first), to time reads of
    /// them beside the steps; `None` when they are not in the CPU's memory.
    pub fn step_weights_probe(&mut self) -> Option<StepWeightsProbe> {
        // SAFETY: a loaded model; the probe keeps what it reads alive on the C side.
        let ptr = unsafe { raw::lofi_musicgen_weights_probe_new(self.ptr) };
        (!ptr.is_null()).then_some(StepWeightsProbe { ptr })
    }

    /// The bytes one position of the decoder's cache takes (all layers, guidance's two branches).
    pub fn kv_bytes_per_position(&self) -> usize {
        // SAFETY: reads the loaded model.
        unsafe { raw::lofi_musicgen_kv_bytes_per_position(self.ptr) }
    }

    /// T5 token ids for a prompt (ending with `</s>`). A blank prompt has none: it asks for the
    /// null condition, as audiocraft treats an empty description (T5 is skipped and the decoder
    /// computes one branch, since guidance between two equal conditions changes nothing).
    pub fn tokenize(&self, prompt: &str) -> Result<Vec<i32>, GgmlError> {
        if prompt.trim().is_empty() {
            return Ok(Vec::new());
        }
        self.tokenizer.encode(prompt)
    }

    /// The decoder steps of a run that continues `prompt_frames` frames with `new_frames` more.
    pub fn run_steps(&self, prompt_frames: usize, new_frames: usize) -> usize {
        // SAFETY: a loaded model.
        unsafe { raw::lofi_musicgen_run_steps(self.ptr, prompt_frames as i64, new_frames as i64) as usize }
    }
}

impl Drop for Musicgen {
    fn drop(&mut self) {
        // SAFETY: loaded by lofi_musicgen_load, freed once.
        unsafe { raw::lofi_musicgen_free(self.ptr) }
    }
}

/// A C string the model returned, copied.
///
/// # Safety
/// `text` is NUL-terminated and valid for the call.
unsafe fn model_text(text: *const std::ffi::c_char) -> String {
    CStr::from_ptr(text).to_string_lossy().into_owned()
}

/// The decoder step's weights in memory, read whole to measure the read bandwidth a step meets
/// at that moment (the benchmark's floor beside each window of steps). Holds the weights
/// while it lives, the model dropped or not.
pub struct StepWeightsProbe {
    ptr: *mut raw::lofi_weights_probe,
}

impl StepWeightsProbe {
    /// Bytes per second `threads` threads reach reading the weights now, the best of three reads
    /// (~20 ms for musicgen-small's Q4_K_M), as [`ggml_sys::read_bandwidth`] reads its buffer.
    pub fn read_bandwidth(&self, threads: usize) -> f64 {
        // SAFETY: a live probe; it only reads the memory it holds.
        unsafe { raw::lofi_weights_probe_bandwidth(self.ptr, threads.clamp(1, i32::MAX as usize) as i32) }
    }
}

impl Drop for StepWeightsProbe {
    fn drop(&mut self) {
        // SAFETY: made by lofi_musicgen_weights_probe_new, freed once.
        unsafe { raw::lofi_weights_probe_free(self.ptr) }
    }
}
