//! `lofi-daemon export TRACK_ID OUT`: a radio session as one file, from its first segment to
//! TRACK_ID (following each segment's `parent` in the cache): seamless segments joined where
//! they overlap, the others crossfaded as the player does.

use std::path::PathBuf;

use clap::Args;

use crate::audio::Audio;
use crate::audio_file::{self, Provenance};
use crate::cache::{Cache, TrackMeta, SEAMLESS_OVERLAP_SEC};
use crate::playback::mixer::effective_crossfade;
use crate::{defaults, track_id, SAMPLE_RATE};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The last segment to include (a radio_segment's track id).
    pub track_id: String,
    /// Where to write it (.wav, or .mp3 through lame).
    pub out: PathBuf,
    /// Default: $XDG_CACHE_HOME/nvim/lofi
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// The segments from the session's first to `last`, oldest first.
fn session(cache: &Cache, last: &str) -> Result<Vec<TrackMeta>, String> {
    let mut chain: Vec<TrackMeta> = Vec::new();
    let mut next = Some(last.to_owned());
    while let Some(id) = next {
        if chain.iter().any(|m| m.track_id == id) {
            return Err(format!(
                "track {id} is its own ancestor: the cache's sidecars were edited"
            ));
        }
        let meta = cache
            .get(&id)
            .map_err(|_| format!("track {id} is not in the cache (evicted or deleted): the session ends before it"))?;
        next = meta.parent.clone();
        chain.push(meta);
    }
    chain.reverse();
    Ok(chain)
}

/// Appends `next` to `out` (both of the same channels): after the overlap when it continues
/// `out` seamlessly, else with an equal-power crossfade.
fn join(out: &mut Audio, next: &Audio, seamless: bool) {
    let channels = usize::from(out.channels);
    if seamless {
        let overlap = ((SEAMLESS_OVERLAP_SEC * SAMPLE_RATE as f64) as usize).min(next.frames());
        out.samples.extend_from_slice(&next.samples[overlap * channels..]);
        return;
    }
    let fade = effective_crossfade(defaults::CROSSFADE_SEC, out.duration_sec().min(next.duration_sec()));
    let n = ((fade * SAMPLE_RATE as f64) as usize)
        .min(out.frames())
        .min(next.frames());
    let start = (out.frames() - n) * channels;
    for (i, (o, s)) in out.samples[start..].iter_mut().zip(&next.samples).enumerate() {
        let theta = (i / channels) as f32 / n as f32 * std::f32::consts::FRAC_PI_2;
        *o = *o * theta.cos() + s * theta.sin();
    }
    out.samples.extend_from_slice(&next.samples[n * channels..]);
}

pub fn run(args: ExportArgs) -> Result<(), String> {
    if !track_id::is_valid(&args.track_id) {
        return Err(format!("{:?} is not a track id (8 hex digits)", args.track_id));
    }
    let format = audio_file::format_for(&args.out)?;
    let dir = args.cache_dir.unwrap_or_else(super::default_cache_dir);
    let cache = Cache::open(&dir).map_err(|e| format!("cannot open the cache {}: {e}", dir.display()))?;
    let chain = session(&cache, &args.track_id)?;
    let mut parts = Vec::with_capacity(chain.len());
    for meta in &chain {
        let audio = crate::playback::prepare::decode(&cache, &meta.track_id).map_err(|e| e.to_string())?;
        if audio.sample_rate != SAMPLE_RATE {
            return Err(format!(
                "track {} is {} Hz, not {SAMPLE_RATE}",
                meta.track_id, audio.sample_rate
            ));
        }
        parts.push((audio, meta.seamless));
    }
    // A session of mono AI segments and stereo bridges is written in stereo, mono centred as
    // the player places it.
    let stereo = parts.iter().any(|(audio, _)| audio.channels == 2);
    let mut out: Option<Audio> = None;
    for (audio, seamless) in parts {
        let audio = if stereo { audio.into_stereo() } else { audio };
        match out.as_mut() {
            None => out = Some(audio),
            Some(out) => join(out, &audio, seamless),
        }
    }
    let out = out.expect("at least the track asked for");
    let last = chain.last().expect("at least the track asked for");
    let provenance = Provenance {
        prompt: last.prompt.clone(),
        seed: last.seed,
        backend: last.backend.clone(),
        model_version: last.model_version.clone(),
    };
    audio_file::save(&args.out, &out, format, &provenance)?;
    eprintln!(
        "wrote {} ({:.1} s: {} segments of the radio session ending at {})",
        args.out.display(),
        out.duration_sec(),
        chain.len(),
        args.track_id
    );
    Ok(())
}
