//! `lofi-daemon export TRACK_ID OUT`: a radio session as one file, from its first segment to
//! TRACK_ID (following each segment's `parent` in the cache): seamless segments joined where
//! they overlap, the others crossfaded as the player does.

use std::path::PathBuf;

use clap::Args;

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

/// Appends `next` to `out`: after the overlap when it continues `out` seamlessly, else with an
/// equal-power crossfade.
fn join(out: &mut Vec<f32>, next: &[f32], seamless: bool) {
    if seamless {
        let overlap = ((SEAMLESS_OVERLAP_SEC * SAMPLE_RATE as f64) as usize).min(next.len());
        out.extend_from_slice(&next[overlap..]);
        return;
    }
    let seconds = |n: usize| n as f64 / SAMPLE_RATE as f64;
    let fade = effective_crossfade(defaults::CROSSFADE_SEC, seconds(out.len()).min(seconds(next.len())));
    let n = ((fade * SAMPLE_RATE as f64) as usize).min(out.len()).min(next.len());
    let start = out.len() - n;
    for (i, (o, s)) in out[start..].iter_mut().zip(next).enumerate() {
        let theta = i as f32 / n as f32 * std::f32::consts::FRAC_PI_2;
        *o = *o * theta.cos() + s * theta.sin();
    }
    out.extend_from_slice(&next[n..]);
}

pub fn run(args: ExportArgs) -> Result<(), String> {
    if !track_id::is_valid(&args.track_id) {
        return Err(format!("{:?} is not a track id (8 hex digits)", args.track_id));
    }
    let format = audio_file::format_for(&args.out)?;
    let dir = args.cache_dir.unwrap_or_else(super::default_cache_dir);
    let cache = Cache::open(&dir).map_err(|e| format!("cannot open the cache {}: {e}", dir.display()))?;
    let chain = session(&cache, &args.track_id)?;
    let mut out: Vec<f32> = Vec::new();
    for meta in &chain {
        let audio = crate::playback::prepare::decode(&cache, &meta.track_id).map_err(|e| e.to_string())?;
        if audio.sample_rate != SAMPLE_RATE {
            return Err(format!(
                "track {} is {} Hz, not {SAMPLE_RATE}",
                meta.track_id, audio.sample_rate
            ));
        }
        if out.is_empty() {
            out = audio.samples;
        } else {
            join(&mut out, &audio.samples, meta.seamless);
        }
    }
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
        out.len() as f64 / SAMPLE_RATE as f64,
        chain.len(),
        args.track_id
    );
    Ok(())
}
