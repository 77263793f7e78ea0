//! The model file is mapped in 4 kB pages: a page cache holding the file in 2 MB folios would
//! otherwise count a weight read once (T5's, EnCodec's), or a small one between two large
//! ones, 2 MB at a time in the resident set.
#![cfg(target_os = "linux")]
mod fixture;

use lofi_convert::FileType;
use musicgen::Musicgen;

/// The flags of each of this process's mappings of `path`, as /proc/self/smaps lists them.
fn mapping_flags(path: &std::path::Path) -> Vec<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = path.to_str().unwrap();
    let mut in_mapping = false;
    let mut flags = Vec::new();
    for line in smaps.lines() {
        if let Some(vm_flags) = line.strip_prefix("VmFlags:") {
            if in_mapping {
                flags.push(vm_flags.trim().to_string());
            }
        } else if is_mapping_header(line) {
            in_mapping = line.ends_with(name);
        }
    }
    flags
}

/// A mapping's first line: its address range (`start-end`, hex) first.
fn is_mapping_header(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .and_then(|range| range.split_once('-'))
        .is_some_and(|(start, end)| {
            [start, end]
                .iter()
                .all(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_hexdigit()))
        })
}

#[test]
fn the_model_file_is_mapped_without_huge_pages() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture::quantized_fixture(dir.path(), FileType::Q4KM);
    let _model = Musicgen::load(&path, 1, "cpu").unwrap();
    let flags = mapping_flags(&path);
    assert!(!flags.is_empty(), "the model file is mapped");
    for f in &flags {
        assert!(
            f.split_whitespace().any(|flag| flag == "nh"),
            "a mapping of the file without MADV_NOHUGEPAGE: {f}"
        );
    }
}

/// A model file cut shorter under the model (written over in place, e.g. `cp new.gguf
/// model.gguf`) loses the mapped pages past its new end: reading one raised SIGBUS and killed
/// the process. Now the lost pages read as zeros, the model says its file was damaged, and no
/// audio made since leaves it.
#[test]
fn a_file_cut_shorter_under_the_model_is_noticed_and_no_audio_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture::quantized_fixture(dir.path(), FileType::F16);
    let mut model = Musicgen::load(&path, 1, "cpu").unwrap();
    let codes = vec![1; 4 * model.params().codebooks];
    let mut run = model.run();
    run.set_codes(&codes).unwrap();
    let heard = run.decode_audio(0).unwrap().to_vec();
    assert!(heard.iter().any(|s| *s != 0.0));
    assert!(!run.model().file_damaged());

    // EnCodec's weights come first in the file (names sorted): all of them are cut off.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let error = run.decode_audio(0).unwrap_err().to_string();
    assert!(run.model().file_damaged(), "the lost pages are noticed");
    let said = format!("the model file {} was cut shorter while in use", path.display());
    assert_eq!(error, said);
}
