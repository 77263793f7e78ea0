//! Which GGML type each tensor gets, in the spirit of llama.cpp's `llama-quantize`.
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use ggml_sys::GgmlType;

/// The output file types `lofi-quantize` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    F32,
    F16,
    Q8_0,
    Q5KM,
    Q4KM,
}

impl FileType {
    pub const ALL: [FileType; 5] = [Self::F32, Self::F16, Self::Q8_0, Self::Q5KM, Self::Q4KM];

    /// `general.file_type`, in llama.cpp's numbering.
    pub fn gguf_id(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q8_0 => 7,
            Self::Q4KM => 15,
            Self::Q5KM => 17,
        }
    }

    fn base_type(self) -> GgmlType {
        match self {
            Self::F32 => GgmlType::F32,
            Self::F16 => GgmlType::F16,
            Self::Q8_0 => GgmlType::Q8_0,
            Self::Q5KM => GgmlType::Q5_K,
            Self::Q4KM => GgmlType::Q4_K,
        }
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
            Self::Q5KM => "q5_k_m",
            Self::Q4KM => "q4_k_m",
        })
    }
}

impl FromStr for FileType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.to_string().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown type {s:?}; choose one of f32, f16, q8_0, q5_k_m, q4_k_m"))
    }
}

/// Whether a tensor may be stored quantized: the transformer matrices. Norms, biases, T5's
/// relative position bias and the whole EnCodec decoder stay F32/F16, but for the LSTM's
/// matrices in quantized files (`is_lstm_matrix`) (the engine's loader
/// rejects anything else, see ggml-sys/cpp/musicgen_tensors.cpp).
pub fn is_matrix(name: &str, shape: &[i64]) -> bool {
    shape.len() == 2 && !name.starts_with("codec.") && !name.contains("attn_rel_b")
}

/// Whether a tensor is one of EnCodec's convolution or LSTM weights (not its codebooks: rows
/// gathered by code). A quantized file stores them in F16: half the bytes (~57 MB less in
/// musicgen-small, on disk and in memory), an audio error far below the decoder's own.
fn is_codec_weight(name: &str, shape: &[i64]) -> bool {
    name.starts_with("codec.dec.") && shape.len() >= 2
}

/// Whether a tensor is one of the LSTM's matrices. A quantized file stores them in Q8_0: they
/// are read whole for every frame (W_hh: 8.4 MB per layer in musicgen-small), so half F16's bytes
/// is half their time, and 16 MB less beside the decoder while a track streams.
fn is_lstm_matrix(name: &str) -> bool {
    name.contains(".lstm.weight_")
}

/// Layer counts per stack ("t5", "dec"), for the "more bits" layers.
pub fn layer_counts<'a>(names: impl IntoIterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for name in names {
        if let Some((stack, layer)) = block_of(name) {
            let count = counts.entry(stack.to_string()).or_insert(0);
            *count = (*count).max(layer + 1);
        }
    }
    counts
}

fn block_of(name: &str) -> Option<(&str, usize)> {
    let mut parts = name.split('.');
    let stack = parts.next()?;
    (parts.next()? == "blk").then_some(())?;
    Some((stack, parts.next()?.parse().ok()?))
}

/// llama-quantize's `use_more_bits`: the first and last eighth of the layers, and every third one between.
fn use_more_bits(layer: usize, layers: usize) -> bool {
    layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
}

/// The type for tensor `name` of `shape` (GGML order) in a file of type `target`.
pub fn choose_type(name: &str, shape: &[i64], target: FileType, layers: &HashMap<String, usize>) -> GgmlType {
    if target == FileType::F32 {
        return GgmlType::F32;
    }
    if !is_matrix(name, shape) {
        let quantized = !matches!(target, FileType::F16);
        return if quantized && is_lstm_matrix(name) {
            fallback(GgmlType::Q8_0, shape[0])
        } else if quantized && is_codec_weight(name, shape) {
            GgmlType::F16
        } else {
            GgmlType::F32
        };
    }
    let mut ty = target.base_type();
    if matches!(target, FileType::Q4KM | FileType::Q5KM) {
        let more_bits = block_of(name).is_some_and(|(stack, layer)| use_more_bits(layer, layers[stack]));
        let sensitive = name.ends_with("attn_v.weight") || name.ends_with("ffn_down.weight");
        if name.starts_with("dec.output.") || (sensitive && more_bits) {
            ty = GgmlType::Q6_K;
        }
    }
    fallback(ty, shape[0])
}

/// llama-quantize's fallback when rows are not a multiple of the block size.
fn fallback(ty: GgmlType, row_len: i64) -> GgmlType {
    let mut ty = ty;
    if row_len % 256 != 0 {
        ty = match ty {
            GgmlType::Q4_K => GgmlType::Q5_0,
            GgmlType::Q5_K => GgmlType::Q5_1,
            GgmlType::Q6_K => GgmlType::Q8_0,
            other => other,
        };
    }
    if row_len % ty.block_size() != 0 {
        ty = GgmlType::F16;
    }
    ty
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(dec: usize) -> HashMap<String, usize> {
        HashMap::from([("dec".to_string(), dec), ("t5".to_string(), 12)])
    }

    #[test]
    fn q4_k_m_mixture() {
        let layers = counts(24);
        let pick = |name: &str, shape: &[i64]| choose_type(name, shape, FileType::Q4KM, &layers);
        assert_eq!(pick("dec.blk.5.attn_q.weight", &[1024, 1024]), GgmlType::Q4_K);
        assert_eq!(pick("dec.blk.0.attn_v.weight", &[1024, 1024]), GgmlType::Q6_K);
        assert_eq!(pick("dec.blk.5.attn_v.weight", &[1024, 1024]), GgmlType::Q6_K); // (5 - 3) % 3 == 2
        assert_eq!(pick("dec.blk.6.attn_v.weight", &[1024, 1024]), GgmlType::Q4_K);
        assert_eq!(pick("dec.blk.23.ffn_down.weight", &[4096, 1024]), GgmlType::Q6_K);
        assert_eq!(pick("dec.output.2.weight", &[1024, 2048]), GgmlType::Q6_K);
        assert_eq!(pick("dec.blk.3.attn_norm.weight", &[1024]), GgmlType::F32);
        assert_eq!(pick("codec.dec.3.weight", &[16, 256, 512]), GgmlType::F16);
        assert_eq!(pick("codec.dec.1.lstm.weight_ih_l0", &[512, 2048]), GgmlType::Q8_0);
        assert_eq!(pick("codec.dec.1.lstm.weight_hh_l0", &[40, 160]), GgmlType::F16);
        assert_eq!(pick("codec.dec.3.bias", &[256]), GgmlType::F32);
        assert_eq!(pick("codec.vq.0.embd", &[128, 2048]), GgmlType::F32);
        assert_eq!(pick("t5.blk.0.attn_rel_b.weight", &[12, 32]), GgmlType::F32);
    }

    #[test]
    fn rows_that_do_not_fit_a_block_fall_back() {
        let layers = counts(24);
        let pick = |name: &str, shape: &[i64], t| choose_type(name, shape, t, &layers);
        assert_eq!(
            pick("t5.blk.3.attn_q.weight", &[768, 768], FileType::Q4KM),
            GgmlType::Q4_K
        );
        assert_eq!(
            pick("t5.blk.3.attn_q.weight", &[64, 64], FileType::Q4KM),
            GgmlType::Q5_0
        );
        assert_eq!(
            pick("t5.blk.3.attn_q.weight", &[64, 64], FileType::Q5KM),
            GgmlType::Q5_1
        );
        assert_eq!(pick("dec.output.0.weight", &[96, 64], FileType::Q4KM), GgmlType::Q8_0);
        assert_eq!(pick("t5.blk.3.attn_q.weight", &[40, 64], FileType::Q8_0), GgmlType::F16);
    }

    #[test]
    fn names_parse_both_ways() {
        for t in FileType::ALL {
            assert_eq!(t.to_string().parse::<FileType>(), Ok(t));
        }
        assert_eq!("Q4_K_M".parse::<FileType>(), Ok(FileType::Q4KM));
        assert!("q3_k".parse::<FileType>().is_err());
    }
}
