//! A daemon on the `none` output with its real-time capture (`LOFI_TEST_CAPTURE`), and what
//! the capture says a listener heard.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `lofi-daemon` (the one cargo built for the bench) on the `none` output with a cache in
/// `dir`, talking over pipes, its capture at the path returned; the caller adds the backend's
/// arguments and spawns it.
pub fn listened_daemon(dir: &Path) -> (Command, PathBuf) {
    let capture = dir.join("heard.f32");
    let mut command = Command::new(env!("CARGO_BIN_EXE_lofi-daemon"));
    command
        .args(["--audio-device", "none", "--cache-dir"])
        .arg(dir.join("cache"))
        .env("LOFI_DAEMON_TEST_HOOKS", "1")
        .env("LOFI_TEST_CAPTURE", &capture)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    (command, capture)
}

/// The capture's samples (its left channel, f32).
pub fn read_capture(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// From the first sound on: the longest run below -60 dBFS, and how many runs reached 50 ms
/// (in samples at 48 kHz).
pub fn quiet_runs(heard: &[f32]) -> (usize, usize) {
    let start = heard.iter().position(|s| s.abs() > 1e-3).unwrap_or(heard.len());
    let end = heard
        .iter()
        .rposition(|s| s.abs() > 1e-3)
        .map_or(start, |e| e.max(start));
    let (mut run, mut longest, mut gaps) = (0usize, 0usize, 0usize);
    for s in &heard[start..end] {
        if s.abs() < 1e-3 {
            run += 1;
            if run == 2400 {
                gaps += 1;
            }
        } else {
            run = 0;
        }
        longest = longest.max(run);
    }
    (longest, gaps)
}
