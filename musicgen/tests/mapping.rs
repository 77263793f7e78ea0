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
