//! `lofi-daemon --verify-model PATH`: the ggml backend's load-time checks on a GGUF, with a
//! one-screen summary, without loading the weights.
use std::path::Path;

use musicgen::{inspect_model, ModelInfo};

/// Prints the summary and returns Ok, or the one-line reason the file cannot be used.
pub fn run(path: &Path) -> Result<(), String> {
    let info =
        inspect_model(path).map_err(|err| format!("{} is not a usable MusicGen model: {err}", path.display()))?;
    let mut report = summary(path, &info);
    if let Some(license) = &info.license {
        let source = info
            .source
            .as_deref()
            .map(|s| format!(" (from {s})"))
            .unwrap_or_default();
        report += &format!("  licence       {license}{source}\n");
    }
    super::print_report(&report)
}

fn summary(path: &Path, info: &ModelInfo) -> String {
    let types: Vec<String> = info
        .tensors_by_type
        .iter()
        .map(|(ty, count)| format!("{} {count}", ty.name().unwrap_or("?")))
        .collect();
    format!(
        "model OK: {path}\n  name          {name}\n  quantization  {quant} (tensors: {types})\n  parameters    {params:.1} M\n  \
         file size     {size:.1} MB\n  text encoder  T5, {t5_layers} layers, width {t5_width}, tokenizer {tokens} tokens\n  \
         decoder       {layers} layers, width {width}, {heads} heads, {codebooks} codebooks x {codebook_size}\n  \
         audio         {rate} Hz, {frames} frames/s, {channels}\n",
        path = path.display(),
        name = info.name,
        quant = info.quantization(),
        types = types.join(", "),
        params = info.params as f64 / 1e6,
        size = info.file_size as f64 / 1e6,
        t5_layers = info.t5_layers,
        t5_width = info.t5_width,
        tokens = info.tokenizer_size,
        layers = info.decoder_layers,
        width = info.decoder_width,
        heads = info.decoder_heads,
        codebooks = info.codebooks,
        codebook_size = info.codebook_size,
        rate = info.sample_rate,
        frames = info.frame_rate,
        channels = if info.audio_channels == 2 {
            "stereo (left/right codebooks interleaved)"
        } else {
            "mono"
        },
    )
}
