//! Audio files: 32 kHz mono or stereo WAV (hound), MP3 (lame), and the provenance tags written into
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

/// Writes `audio` as `wanted` into a new temp file in `dir` named `<prefix>…`, created with
/// `mode` less the umask (cache files stay private with 0o600; a file the user asked for
/// gets the usual 0o666), tagged with `provenance` (a file that cannot be tagged is kept,
/// with a warning: the tags are a record, not the music). The caller renames it into place.
/// Without lame, or if lame fails, the file is a WAV: the format written is returned.
pub fn write_temp(
    dir: &Path,
    prefix: &str,
    mode: u32,
    audio: &Audio,
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
    wav::write(wav_file.as_file_mut(), audio).map_err(io::Error::other)?;
    wav_file.as_file_mut().rewind()?;
    let (file, format) = if wanted == AudioFormat::Mp3 && mp3::lame_available() {
        let mp3_file = temp()?;
        if mp3::encode(wav_file.path(), mp3_file.path()) {
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

/// Writes a file the user asked for at `out` (WAV, or MP3 through lame), with the usual mode
/// (0666 less the umask, not a cache file's 0600), atomically: a temp file beside it renamed
/// into place. The error is one line for the user.
pub fn save(out: &Path, audio: &Audio, format: AudioFormat, provenance: &Provenance) -> Result<(), String> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (temp, written) = write_temp(dir, ".lofi-", 0o666, audio, format, provenance)
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    // The cache keeps a WAV when lame fails; a file the user named .mp3 must be one.
    if written != format {
        return Err(format!(
            "cannot write {}: lame could not encode it (its message is in the log)",
            out.display()
        ));
    }
    temp.persist(out)
        .map_err(|e| format!("cannot write {}: {}", out.display(), e.error))?;
    Ok(())
}

/// The format a file the user names should be written in, by its extension.
pub fn format_for(out: &Path) -> Result<AudioFormat, String> {
    match out.extension().and_then(|e| e.to_str()) {
        Some("wav") => Ok(AudioFormat::Wav),
        Some("mp3") if mp3::lame_available() => Ok(AudioFormat::Mp3),
        Some("mp3") => Err("MP3 output needs the lame encoder on PATH; install lame or write a .wav".into()),
        _ => Err(format!("{}: the output must end in .wav or .mp3", out.display())),
    }
}
