use std::collections::BTreeMap;
use std::ffi::CStr;
use std::path::Path;

use ggml_sys::{raw, ErrorBuffer, GgmlError, GgmlType, GgufFile, GgufMetadata};

use crate::tokenizer::T5Tokenizer;

/// What `inspect_model` found in a valid MusicGen GGUF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: String,
    /// `general.file_type` in llama.cpp's numbering (0 = F32, 1 = F16, 7 = Q8_0, 15 = Q4_K_M, 17 = Q5_K_M).
    pub file_type: u32,
    pub file_size: u64,
    pub tensors: i64,
    pub params: i64,
    pub tokenizer_size: u32,
    pub t5_layers: u32,
    pub t5_width: u32,
    pub decoder_layers: u32,
    pub decoder_width: u32,
    pub decoder_heads: u32,
    pub codebooks: u32,
    pub codebook_size: u32,
    pub sample_rate: u32,
    pub frame_rate: u32,
    /// 1 mono, 2 stereo (the musicgen-stereo models).
    pub audio_channels: u32,
    pub tensors_by_type: BTreeMap<GgmlType, i64>,
    /// `general.license` and the Hugging Face repository the weights came from, when the
    /// converter knew them.
    pub license: Option<String>,
    pub source: Option<String>,
}

impl ModelInfo {
    /// The quantization's usual name ("Q4_K_M"), from `general.file_type`.
    pub fn quantization(&self) -> String {
        match self.file_type {
            0 => "F32".into(),
            1 => "F16".into(),
            7 => "Q8_0".into(),
            15 => "Q4_K_M".into(),
            17 => "Q5_K_M".into(),
            other => format!("file type {other}"),
        }
    }
}

/// Checks a GGUF against what the MusicGen engine loads (architecture, hyperparameters,
/// tensor names, shapes and types, the tokenizer) without reading the weights: the checks
/// [`crate::Musicgen::load`] runs, so a file that passes here also loads.
pub fn inspect_model(path: &Path) -> Result<ModelInfo, GgmlError> {
    let file = GgufFile::open(path)?;
    let mut info = std::mem::MaybeUninit::<raw::lofi_model_info>::zeroed();
    let mut err = ErrorBuffer::new();
    // SAFETY: an open file, an output struct and an error buffer.
    if !unsafe { raw::lofi_model_inspect(file.as_raw(), info.as_mut_ptr(), err.ptr(), err.capacity()) } {
        return Err(err.into_error());
    }
    T5Tokenizer::from_gguf(file.metadata())?;
    // SAFETY: filled on success.
    Ok(ModelInfo::from_raw(&unsafe { info.assume_init() }, file.metadata()))
}

impl ModelInfo {
    pub(crate) fn from_raw(info: &raw::lofi_model_info, metadata: GgufMetadata<'_>) -> Self {
        Self {
            // SAFETY: the C side NUL-terminates the name within its array.
            name: unsafe { CStr::from_ptr(info.name.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
            file_type: info.file_type,
            file_size: info.file_size,
            tensors: info.n_tensors,
            params: info.n_params,
            tokenizer_size: info.tokenizer_size,
            t5_layers: info.t5_layers,
            t5_width: info.t5_width,
            decoder_layers: info.decoder_layers,
            decoder_width: info.decoder_width,
            decoder_heads: info.decoder_heads,
            codebooks: info.codebooks,
            codebook_size: info.codebook_size,
            sample_rate: info.sample_rate,
            frame_rate: info.frame_rate,
            audio_channels: info.audio_channels,
            tensors_by_type: (0..info.tensors_by_type.len())
                .filter(|&t| info.tensors_by_type[t] > 0)
                .map(|t| (GgmlType(t as i32), info.tensors_by_type[t]))
                .collect(),
            license: metadata.get_string("general.license"),
            source: metadata.get_string("general.source.huggingface.repository"),
        }
    }
}
