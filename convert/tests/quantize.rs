//! lofi-quantize on the committed fixture: every file type verifies as a MusicGen model, and its
//! dequantized tensors stay within each GGML type's expected error of the original.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ggml_sys::{to_f32, GgmlType, GgufFile};
use lofi_convert::{quantize_file, FileType, QuantizeError};
use musicgen::inspect_model;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/musicgen-tiny/model-f16.gguf")
}

fn tensors_f32(path: &Path) -> BTreeMap<String, (GgmlType, Vec<f32>)> {
    let file = GgufFile::open(path).unwrap();
    file.tensors()
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let values = to_f32(info.ty, &file.read_tensor(i).unwrap(), info.elements()).unwrap();
            (info.name.clone(), (info.ty, values))
        })
        .collect()
}

/// Relative RMS error each type may show on the fixture's Gaussian weights.
fn tolerance(ty: GgmlType) -> f64 {
    match ty {
        // The source's matrices are F16 (stored exactly); its EnCodec weights are F32, which a
        // quantized file rounds to F16: within half an F16 step, 2^-11 of each value.
        GgmlType::F32 => 0.0,
        GgmlType::F16 => 2f64.powi(-11),
        GgmlType::Q8_0 => 0.008,
        GgmlType::Q6_K => 0.025,
        GgmlType::Q5_K | GgmlType::Q5_1 => 0.05,
        GgmlType::Q5_0 => 0.06,
        GgmlType::Q4_K => 0.1,
        other => panic!("unexpected type {other:?}"),
    }
}

#[test]
fn every_file_type_verifies_and_stays_within_its_error() {
    let source = tensors_f32(&fixture());
    let dir = tempfile::tempdir().unwrap();
    for file_type in FileType::ALL {
        let out = dir.path().join(format!("tiny-{file_type}.gguf"));
        let report = quantize_file(&fixture(), &out, file_type).unwrap();

        let info = inspect_model(&out).unwrap_or_else(|e| panic!("{file_type}: {e}"));
        assert_eq!(info.file_type, file_type.gguf_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o044,
                0o044,
                "{file_type}: others may read a model file ({mode:o})"
            );
        }
        assert_eq!(info.params, 1_673_555);

        // Independently of the report: read the written file back and compare.
        let mut sq_err: BTreeMap<GgmlType, (f64, f64, f64)> = BTreeMap::new();
        for (name, (ty, values)) in tensors_f32(&out) {
            let original = &source[&name].1;
            let entry = sq_err.entry(ty).or_default();
            for (a, b) in original.iter().zip(&values) {
                let e = f64::from(a - b);
                entry.0 += e * e;
                entry.1 += f64::from(*a) * f64::from(*a);
                entry.2 = entry.2.max(e.abs());
            }
        }
        for (ty, (err, norm, max)) in sq_err {
            let rel = (err / norm).sqrt();
            let stats = &report.by_type[&ty];
            eprintln!(
                "{file_type:>7} {:<5} tensors {:>3}  max|err| {max:.3e}  mean|err| {:.3e}  rel RMS {rel:.2e}",
                ty.name().unwrap(),
                stats.tensors,
                stats.mean_abs_error()
            );
            assert!(rel <= tolerance(ty), "{file_type} {ty:?}: relative RMS error {rel}");
            assert!(
                (rel - stats.relative_rms_error()).abs() < 1e-9,
                "report agrees with the file"
            );
        }
    }
}

#[test]
fn q4_k_m_keeps_norms_in_f32_codec_weights_in_f16_lstm_in_q8_0_and_heads_in_q6_k() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q4.gguf");
    quantize_file(&fixture(), &out, FileType::Q4KM).unwrap();
    let file = GgufFile::open(&out).unwrap();
    let type_of = |name: &str| file.tensors().iter().find(|t| t.name == name).unwrap().ty;
    assert_eq!(type_of("codec.dec.0.weight"), GgmlType::F16);
    assert_eq!(type_of("codec.dec.1.lstm.weight_hh_l0"), GgmlType::Q8_0);
    assert_eq!(type_of("codec.dec.0.bias"), GgmlType::F32);
    assert_eq!(type_of("codec.vq.0.embd"), GgmlType::F32);
    assert_eq!(type_of("dec.blk.0.attn_norm.weight"), GgmlType::F32);
    assert_eq!(type_of("t5.blk.0.attn_rel_b.weight"), GgmlType::F32);
    assert_eq!(type_of("dec.output.0.weight"), GgmlType::Q6_K);
    assert_eq!(type_of("dec.blk.0.attn_q.weight"), GgmlType::Q4_K);
    assert_eq!(
        type_of("t5.blk.0.attn_q.weight"),
        GgmlType::Q5_0,
        "64-wide rows fall back"
    );
    assert_eq!(
        file.metadata().get_string("general.architecture").as_deref(),
        Some("musicgen")
    );
}

#[test]
fn bad_inputs_give_one_clear_error_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let quantized = dir.path().join("q8.gguf");
    quantize_file(&fixture(), &quantized, FileType::Q8_0).unwrap();
    let out = dir.path().join("again.gguf");
    let err = quantize_file(&quantized, &out, FileType::Q4KM).unwrap_err();
    assert!(matches!(err, QuantizeError::AlreadyQuantized { .. }), "{err}");
    assert!(err.to_string().contains("already q8_0"), "{err}");

    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, b"GGUF but not really").unwrap();
    let err = quantize_file(&garbage, &out, FileType::F16).unwrap_err().to_string();
    assert!(err.contains("not a valid GGUF file"), "{err}");
    let err = quantize_file(&dir.path().join("missing.gguf"), &out, FileType::F16)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no such file"), "{err}");

    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "only the inputs remain: {left:?}");
}
