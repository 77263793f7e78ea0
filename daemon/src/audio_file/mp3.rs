//! MP3 through the `lame` command line encoder (an optional dependency: without it tracks
//! are stored as WAV and MP3s cannot be played).

use std::ffi::OsStr;
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

/// Runs `lame --quiet` with `args`; the error is what it said, in one line. lame 3.100 exits 0
/// when its last writes fail (on a full disk: an MP3's final flush and LAME tag), leaving a cut
/// file; it says so on stderr, where --quiet leaves only errors, so anything said is a failure.
fn run_lame(args: &[&OsStr]) -> Result<(), String> {
    let run = Command::new("lame")
        .arg("--quiet")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run lame: {e}"))?;
    let said = String::from_utf8_lossy(&run.stderr);
    let said: Vec<&str> = said.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if run.status.success() && said.is_empty() {
        Ok(())
    } else {
        Err(format!("lame failed ({}): {}", run.status, said.join("; ")))
    }
}

/// Encodes the WAV at `wav_path` into `mp3_path` (128 kbit/s); `false` (with a warning) when
/// lame failed.
pub fn encode(wav_path: &Path, mp3_path: &Path) -> bool {
    let encoded = run_lame(&["-b".as_ref(), "128".as_ref(), wav_path.as_ref(), mp3_path.as_ref()]);
    if let Err(why) = &encoded {
        tracing::warn!("{why}");
    }
    encoded.is_ok()
}

/// Decodes an MP3 through a temporary WAV.
pub fn decode(path: &Path) -> Result<wav::Audio, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot decode {}: {e}", path.display()))?;
    let out = dir.path().join("decoded.wav");
    match run_lame(&["--decode".as_ref(), path.as_ref(), out.as_ref()]) {
        Ok(()) => wav::read(&out).map_err(|e| format!("cannot read {}: {e}", path.display())),
        Err(_) if !lame_available() => Err(format!(
            "cannot decode {}: playing MP3 needs lame on PATH",
            path.display()
        )),
        Err(why) => Err(format!("cannot decode {}: {why}", path.display())),
    }
}
