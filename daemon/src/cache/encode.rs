use std::io::{self, Seek};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use crate::wav;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    #[default]
    Wav,
    Mp3,
}

impl AudioFormat {
    pub fn extension(self) -> &'static str {
        match self {
            AudioFormat::Wav => "wav",
            AudioFormat::Mp3 => "mp3",
        }
    }
}

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

/// Encodes samples into a temp file in `dir`, created with `mode` less the umask (cache
/// files stay private with 0o600; a file the user asked for gets the usual 0o666). MP3
/// goes through `lame` (128 kbit/s); without lame, or if lame fails, the track is stored
/// as WAV instead.
pub fn encode(dir: &Path, samples: &[f32], wanted: AudioFormat, mode: u32) -> io::Result<(NamedTempFile, AudioFormat)> {
    let temp = || {
        tempfile::Builder::new()
            .prefix(super::TEMP_PREFIX)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
            .tempfile_in(dir)
    };
    let mut wav_file = temp()?;
    wav::write(wav_file.as_file_mut(), samples).map_err(io::Error::other)?;
    wav_file.as_file_mut().rewind()?;
    if wanted == AudioFormat::Wav || !lame_available() {
        return Ok((wav_file, AudioFormat::Wav));
    }
    let mp3_file = temp()?;
    let status = Command::new("lame")
        .args(["--quiet", "-b", "128"])
        .arg(wav_file.path())
        .arg(mp3_file.path())
        .stdin(Stdio::null())
        .status()?;
    if status.success() {
        Ok((mp3_file, AudioFormat::Mp3))
    } else {
        tracing::warn!("lame failed ({status}); storing WAV instead");
        Ok((wav_file, AudioFormat::Wav))
    }
}
