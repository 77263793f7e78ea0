//! Provenance tags (prompt, seed, backend, model_version) embedded in exported files.

use std::path::Path;

use lofty::config::WriteOptions;
use lofty::id3::v2::Id3v2Tag;
use lofty::prelude::*;
use lofty::tag::{Tag, TagType};

use super::AudioFormat;

/// What produced a track; written into the file so it can be reproduced later.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    pub prompt: String,
    pub seed: u64,
    pub backend: String,
    pub model_version: String,
}

impl Provenance {
    fn comment(&self) -> String {
        format!(
            "lofi.nvim; seed={}; backend={}; model_version={}; prompt={}",
            self.seed, self.backend, self.model_version, self.prompt
        )
    }
}

/// Tags a WAV (RIFF INFO) or MP3 (ID3v2) file in place. The format is passed in
/// because the file is usually a temp file without an extension.
pub fn write(path: &Path, format: AudioFormat, provenance: &Provenance) -> Result<(), lofty::error::FileEncodingError> {
    let tag_type = match format {
        AudioFormat::Mp3 => TagType::Id3v2,
        AudioFormat::Wav => TagType::RiffInfo,
    };
    let mut tag = Tag::new(tag_type);
    tag.set_title(provenance.prompt.clone());
    tag.set_artist("lofi.nvim".to_owned());
    tag.set_comment(provenance.comment());
    tag.insert_text(
        ItemKey::EncoderSoftware,
        format!("lofi-daemon {}", env!("CARGO_PKG_VERSION")),
    );
    match format {
        AudioFormat::Wav => tag.save_to_path(path, WriteOptions::default()),
        AudioFormat::Mp3 => in_a_fixed_order(Id3v2Tag::from(tag)).save_to_path(path, WriteOptions::default()),
    }
}

/// lofty makes ID3v2 frames from a generic tag through hash maps, in a different order each time:
/// sorted by id, the same track's MP3 is the same bytes each time it is made.
fn in_a_fixed_order(tag: Id3v2Tag) -> Id3v2Tag {
    let mut frames: Vec<_> = tag.into_iter().collect();
    frames.sort_by(|a, b| a.id_str().cmp(b.id_str()));
    let mut sorted = Id3v2Tag::new();
    for frame in frames {
        sorted.insert(frame);
    }
    sorted
}

/// Reads the provenance back from a file tagged by [`write`].
pub fn read(path: &Path) -> Option<Provenance> {
    let tagged = lofty::read_from_path(path).ok()?;
    let comment = tagged.tags().iter().find_map(|t| t.comment())?.into_owned();
    let field = |key: &str| {
        comment
            .split("; ")
            .find_map(|part| part.strip_prefix(key))
            .map(str::to_owned)
    };
    Some(Provenance {
        seed: field("seed=")?.parse().ok()?,
        backend: field("backend=")?,
        model_version: field("model_version=")?,
        // The prompt is last, so it may itself contain "; ".
        prompt: comment.split_once("prompt=")?.1.to_owned(),
    })
}
