//! `lofi-daemon --verify-model`: a summary for good files (every file type), and one clean line,
//! never a crash, for truncated, bit-flipped and wrong files.
mod common;

use std::path::Path;

use common::{fixture_model, quantized_fixture, tempdir};
use ggml_sys::GgufFile;
use lofi_convert::FileType;
use musicgen::{inspect_model, Musicgen};

fn verify(path: &Path) -> std::process::Output {
    common::daemon_command()
        .arg("--verify-model")
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn every_file_type_verifies_with_a_summary() {
    let dir = tempdir();
    for file_type in FileType::ALL {
        let path = quantized_fixture(dir.path(), file_type);
        let out = verify(&path);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file_type}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with("model OK: "), "{stdout}");
        let quantization = file_type.to_string().to_uppercase();
        assert!(stdout.contains(&format!("quantization  {quantization} ")), "{stdout}");
        assert!(stdout.contains("parameters    1.7 M"), "{stdout}");
        assert!(stdout.contains("tokenizer 122 tokens"), "{stdout}");
        assert!(
            stdout.contains("2 layers, width 256, 4 heads, 4 codebooks x 64"),
            "{stdout}"
        );
        assert!(stdout.lines().count() <= 10, "fits one screen");
    }
}

fn assert_one_line_failure(path: &Path, expect: &str) {
    let out = verify(path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(expect), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn wrong_files_get_one_line_and_exit_1() {
    let dir = tempdir();
    assert_one_line_failure(&dir.path().join("missing.gguf"), "no such file");
    assert_one_line_failure(dir.path(), "no such file");
    let text = dir.path().join("notes.gguf");
    std::fs::write(&text, "just some text\n").unwrap();
    assert_one_line_failure(&text, "not a valid GGUF file");
    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, "").unwrap();
    assert_one_line_failure(&empty, "not a valid GGUF file");
    let truncated = dir.path().join("truncated.gguf");
    let bytes = std::fs::read(fixture_model()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    assert_one_line_failure(&truncated, "file is truncated: tensor");
}

#[test]
fn a_gguf_of_another_model_is_refused_by_name() {
    // Same file with the architecture string changed in place ("musicgen" -> "musicgeX").
    let dir = tempdir();
    let mut bytes = std::fs::read(fixture_model()).unwrap();
    let at = bytes.windows(8).position(|w| w == b"musicgen").unwrap();
    bytes[at + 7] = b'X';
    let other = dir.path().join("other.gguf");
    std::fs::write(&other, &bytes).unwrap();
    assert_one_line_failure(&other, "architecture is 'musicgeX', not 'musicgen'");
}

/// Where the tensor data starts: everything before is header, key/values and tensor infos.
fn data_start(path: &Path) -> usize {
    GgufFile::open(path)
        .unwrap()
        .tensors()
        .iter()
        .map(|t| t.offset)
        .min()
        .unwrap() as usize
}

#[test]
fn every_truncation_is_a_clean_error() {
    let bytes = std::fs::read(fixture_model()).unwrap();
    let data = data_start(&fixture_model());
    let tensors = GgufFile::open(&fixture_model()).unwrap().tensors().to_vec();
    // Every length through the header and first keys, and through the tensor infos; a stride
    // through the tokenizer arrays between (their elements all parse alike); both sides of
    // every tensor's data boundary.
    let mut lengths: Vec<usize> = (0..4096).collect();
    lengths.extend((4096..data.saturating_sub(8192)).step_by(251));
    lengths.extend(data.saturating_sub(8192)..data + 64);
    for t in &tensors {
        let end = (t.offset + t.nbytes) as usize;
        lengths.extend([end - 1, end + 1].into_iter().filter(|&l| l < bytes.len()));
    }
    lengths.push(bytes.len() - 1);

    let dir = tempdir();
    let path = dir.path().join("cut.gguf");
    for len in lengths {
        std::fs::write(&path, &bytes[..len]).unwrap();
        match inspect_model(&path) {
            Ok(_) => panic!("a file cut to {len} of {} bytes passed", bytes.len()),
            Err(e) => assert!(!e.0.is_empty() && !e.0.contains('\n'), "cut to {len}: {e:?}"),
        }
    }
}

#[test]
fn byte_flips_never_crash() {
    let bytes = std::fs::read(fixture_model()).unwrap();
    let data = data_start(&fixture_model());
    let dir = tempdir();
    let path = dir.path().join("flipped.gguf");
    let mut state: u64 = 0x5eed;
    let mut next = |bound: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % bound
    };
    let (mut clean_errors, mut still_valid) = (0, 0);
    for round in 0..600 {
        let mut damaged = bytes.clone();
        // Mostly the structural bytes: header, key names and lengths, tensor infos.
        let region = if round % 3 == 0 { data } else { 4096.min(data) };
        let at = if round % 3 == 1 {
            data - 1 - next(8192.min(data))
        } else {
            next(region)
        };
        damaged[at] ^= 1 + next(255) as u8;
        std::fs::write(&path, &damaged).unwrap();
        match inspect_model(&path) {
            Ok(_) => {
                // What verification passes, loading must accept: one set of checks.
                if let Err(e) = Musicgen::load(&path, 1, "cpu") {
                    panic!("flip at {at} passes inspection but fails to load: {e:?}");
                }
                still_valid += 1
            }
            Err(e) => {
                assert!(!e.0.is_empty() && !e.0.contains('\n'), "flip at {at}: {e:?}");
                clean_errors += 1;
            }
        }
    }
    eprintln!("600 byte flips: {clean_errors} clean errors, {still_valid} still valid (value bytes)");
    assert!(clean_errors > 100, "most structural flips are caught");
}

/// The offset of the value of metadata key `key` (right after its name and its type tag).
fn value_offset(bytes: &[u8], key: &str) -> usize {
    let at = bytes.windows(key.len()).position(|w| w == key.as_bytes()).unwrap();
    at + key.len() + 4
}

#[test]
fn a_damaged_tokenizer_fails_verification_as_it_fails_loading() {
    let dir = tempdir();
    let bytes = std::fs::read(fixture_model()).unwrap();

    // The charsmap is an array: element type (u32), count (u64), then its bytes, which start
    // with the trie's size; a size past the end cannot be parsed.
    let mut charsmap = bytes.clone();
    let data = value_offset(&bytes, "tokenizer.ggml.precompiled_charsmap") + 4 + 8;
    charsmap[data + 3] ^= 0x40;
    let path = dir.path().join("charsmap.gguf");
    std::fs::write(&path, &charsmap).unwrap();
    assert!(Musicgen::load(&path, 1, "cpu").is_err(), "the damage is real");
    assert_one_line_failure(&path, "is not a usable MusicGen model: tokenizer normalizer");

    let mut unknown = bytes.clone();
    let at = value_offset(&bytes, "tokenizer.ggml.unknown_token_id");
    unknown[at + 2] ^= 0x10;
    let path = dir.path().join("unknown.gguf");
    std::fs::write(&path, &unknown).unwrap();
    assert!(Musicgen::load(&path, 1, "cpu").is_err(), "the damage is real");
    assert_one_line_failure(&path, "the model's tokenizer arrays disagree");
}
