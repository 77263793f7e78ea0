//! Reads an F32/F16 GGUF, writes it as another file type with GGML's quantizers, and measures
//! what each type costs in accuracy.
use std::collections::BTreeMap;
use std::path::Path;

use ggml_sys::{quantize, to_f32, GgmlError, GgmlType, GgufFile, GgufWriter};

use crate::policy::{choose_type, layer_counts, FileType};

/// GGML's quantization format version (GGML_QNT_VERSION), written as llama-quantize does.
const QUANTIZATION_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    #[error("{0}")]
    Ggml(#[from] GgmlError),
    #[error("tensor '{name}' is already {ty}; quantize from an F32 or F16 file")]
    AlreadyQuantized { name: String, ty: String },
    #[error("tensor '{0}' cannot be stored as {1}")]
    Unsupported(String, String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Accuracy of one output type over every tensor stored in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypeStats {
    pub tensors: usize,
    pub elements: usize,
    pub bytes: usize,
    pub max_abs_error: f64,
    sum_abs_error: f64,
    sum_sq_error: f64,
    sum_sq_value: f64,
}

impl TypeStats {
    pub fn mean_abs_error(&self) -> f64 {
        self.sum_abs_error / self.elements.max(1) as f64
    }
    /// RMS error relative to the RMS of the original values.
    pub fn relative_rms_error(&self) -> f64 {
        (self.sum_sq_error / self.sum_sq_value.max(f64::MIN_POSITIVE)).sqrt()
    }
    fn add(&mut self, original: &[f32], restored: &[f32], bytes: usize) {
        self.tensors += 1;
        self.elements += original.len();
        self.bytes += bytes;
        for (&a, &b) in original.iter().zip(restored) {
            let error = (f64::from(a) - f64::from(b)).abs();
            self.max_abs_error = self.max_abs_error.max(error);
            self.sum_abs_error += error;
            self.sum_sq_error += error * error;
            self.sum_sq_value += f64::from(a) * f64::from(a);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub file_type: FileType,
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub by_type: BTreeMap<GgmlType, TypeStats>,
}

/// Writes `input` (an F32 or F16 GGUF) to `output` as `target`. The output appears atomically
/// (written beside it, then renamed).
pub fn quantize_file(input: &Path, output: &Path, target: FileType) -> Result<Report, QuantizeError> {
    let source = GgufFile::open(input)?;
    let layers = layer_counts(source.tensors().iter().map(|t| t.name.as_str()));
    let mut writer = GgufWriter::new(&source);
    writer.set_u32("general.file_type", target.gguf_id())?;
    if !matches!(target, FileType::F32 | FileType::F16) {
        writer.set_u32("general.quantization_version", QUANTIZATION_VERSION)?;
    }
    let mut by_type: BTreeMap<GgmlType, TypeStats> = BTreeMap::new();
    for (index, info) in source.tensors().iter().enumerate() {
        if info.ty != GgmlType::F32 && info.ty != GgmlType::F16 {
            let ty = info.ty.name().unwrap_or("an unknown type").to_string();
            return Err(QuantizeError::AlreadyQuantized {
                name: info.name.clone(),
                ty,
            });
        }
        let bytes = source.read_tensor(index)?;
        let values = to_f32(info.ty, &bytes, info.elements())
            .ok_or_else(|| GgmlError(format!("cannot read tensor '{}'", info.name)))?;
        let ty = choose_type(&info.name, &info.shape, target, &layers);
        let stored = if ty == info.ty {
            bytes
        } else if ty == GgmlType::F32 {
            values.iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            quantize(ty, &values, info.row_len())
                .ok_or_else(|| QuantizeError::Unsupported(info.name.clone(), format!("{ty:?}")))?
        };
        let restored = to_f32(ty, &stored, info.elements())
            .ok_or_else(|| GgmlError(format!("cannot restore tensor '{}'", info.name)))?;
        by_type.entry(ty).or_default().add(&values, &restored, stored.len());
        writer.add_tensor(&info.name, ty, &info.shape, &stored)?;
    }

    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new();
    temp.prefix(".lofi-quantize-").suffix(".gguf");
    // A model file, not a secret: readable by others as files usually are (minus the umask),
    // rather than the temporary file's 0600.
    #[cfg(unix)]
    temp.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let temp = temp.tempfile_in(dir)?;
    writer.write(temp.path())?;
    temp.persist(output).map_err(|e| e.error)?;
    Ok(Report {
        file_type: target,
        input_bytes: std::fs::metadata(input)?.len(),
        output_bytes: std::fs::metadata(output)?.len(),
        by_type,
    })
}
