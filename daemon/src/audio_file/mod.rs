//! Audio files: 32 kHz mono WAV (hound), MP3 (lame), and the provenance tags written into
//! both. The cache and `lofi-daemon generate --out` write through [`write_temp`]; playback
//! and waveforms read through [`read`].

pub mod mp3;
pub mod tags;
pub mod wav;

use std::io::{self, Seek};
use std::path::Path;

use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

pub use tags::Provenance;
pub use wav::Audio;

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

/// Writes `samples` as `wanted` into a new temp file in `dir` named `<prefix>…`, created with
/// `mode` less the umask (cache files stay private with 0o600; a file the user asked for
/// gets the usual 0o666), tagged with `provenance` (a file that cannot be tagged is kept,
/// with a warning: the tags are a record, not the music). The caller renames it into place.
/// Without lame, or if lame fails, the file is a WAV: the format written is returned.
pub fn write_temp(
    dir: &Path,
    prefix: &str,
    mode: u32,
    samples: &[f32],
    wanted: AudioFormat,
    provenance: &Provenance,
) -> io::Result<(NamedTempFile, AudioFormat)> {
    let temp = || {
        tempfile::Builder::new()
            .prefix(prefix)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
            .tempfile_in(dir)
    };
    let mut wav_file = temp()?;
    wav::write(wav_file.as_file_mut(), samples).map_err(io::Error::other)?;
    wav_file.as_file_mut().rewind()?;
    let (file, format) = if wanted == AudioFormat::Mp3 && mp3::lame_available() {
        let mp3_file = temp()?;
        if mp3::encode(wav_file.path(), mp3_file.path())? {
            (mp3_file, AudioFormat::Mp3)
        } else {
            (wav_file, AudioFormat::Wav)
        }
    } else {
        (wav_file, AudioFormat::Wav)
    };
    if let Err(e) = tags::write(file.path(), format, provenance) {
        tracing::warn!("cannot tag {}: {e}", file.path().display());
    }
    Ok((file, format))
}

/// Decodes an audio file of `format` at its own sample rate; the error is one sentence.
pub fn read(path: &Path, format: AudioFormat) -> Result<Audio, String> {
    match format {
        AudioFormat::Wav => wav::read(path).map_err(|e| format!("cannot read {}: {e}", path.display())),
        AudioFormat::Mp3 => mp3::decode(path),
    }
}
