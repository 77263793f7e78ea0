//! MP3 through the `lame` command line encoder (an optional dependency: without it tracks
//! are stored as WAV and MP3s cannot be played).

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::wav;

/// Whether `lame` runs; probed once per process.
pub fn lame_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("lame")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Encodes the WAV at `wav_path` into `mp3_path` (128 kbit/s); `false` when lame failed.
pub fn encode(wav_path: &Path, mp3_path: &Path) -> io::Result<bool> {
    let run = Command::new("lame")
        .args(["--quiet", "-b", "128"])
        .arg(wav_path)
        .arg(mp3_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    // lame 3.100 exits 0 when its last writes fail (on a full disk: the final flush, the LAME
    // tag's update), leaving a cut MP3; it says so on stderr, where --quiet leaves only errors.
    let said = String::from_utf8_lossy(&run.stderr);
    let finished = run.status.success() && said.trim().is_empty();
    if !finished {
        tracing::warn!("lame failed ({}): {}", run.status, said.trim());
    }
    Ok(finished)
}

/// Decodes an MP3 through a temporary WAV.
pub fn decode(path: &Path) -> Result<wav::Audio, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot decode {}: {e}", path.display()))?;
    let out = dir.path().join("decoded.wav");
    let status = Command::new("lame")
        .args(["--quiet", "--decode"])
        .arg(path)
        .arg(&out)
        .stdin(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => wav::read(&out).map_err(|e| format!("cannot read {}: {e}", path.display())),
        _ => Err(format!(
            "cannot decode {}: playing MP3 needs lame on PATH",
            path.display()
        )),
    }
}
