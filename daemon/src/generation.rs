//! Where every generation starts, for the server and `lofi-daemon generate` alike: the
//! request with its defaults filled in and checked, the seed drawn when none is given (one
//! range, 0..=MAX_SEED: [`defaults::random_seed`]), and the id of the track it makes.

use std::time::Duration;

use crate::audio_file::AudioFormat;
use crate::backend::{Backend, GenerationRequest, ModelInfo};
use crate::cache::{now_unix, TrackMeta};
use crate::defaults::{self, MAX_DURATION_SEC, MAX_PROMPT_CHARS, MAX_SEED, MIN_DURATION_SEC};
use crate::track_id;

/// A value a request may not have: which field, and what is wrong with it
/// ("duration_sec must be between …" as a whole).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: String) -> Invalid {
    Invalid { field, message }
}

/// The request for what was asked: the prompt trimmed (`default_prompt` when missing or
/// blank), the duration `default_duration_sec` when missing, a random seed when missing.
pub fn request(
    prompt: Option<&str>,
    seed: Option<u64>,
    duration_sec: Option<f64>,
    default_prompt: &str,
    default_duration_sec: f64,
) -> Result<GenerationRequest, Invalid> {
    if prompt.is_some_and(|p| p.chars().count() > MAX_PROMPT_CHARS) {
        return Err(invalid(
            "prompt",
            format!("is longer than {MAX_PROMPT_CHARS} characters"),
        ));
    }
    let duration_sec = duration_sec.unwrap_or(default_duration_sec);
    if !(MIN_DURATION_SEC..=MAX_DURATION_SEC).contains(&duration_sec) {
        return Err(invalid(
            "duration_sec",
            format!("must be between {MIN_DURATION_SEC} and {MAX_DURATION_SEC} seconds, got {duration_sec}"),
        ));
    }
    if seed.is_some_and(|s| s > MAX_SEED) {
        return Err(invalid("seed", format!("must be at most {MAX_SEED}")));
    }
    let prompt = prompt
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or(default_prompt);
    Ok(GenerationRequest {
        prompt: prompt.to_owned(),
        seed: seed.unwrap_or_else(defaults::random_seed),
        duration_sec,
    })
}

/// The id of the track `backend` makes for `request` (README, Track ids).
pub fn track_id(backend: &dyn Backend, request: &GenerationRequest) -> String {
    track_id::compute(
        &request.prompt,
        request.seed,
        request.duration_sec,
        &backend.info().model_version,
    )
}

/// The metadata of a track just made: `samples` samples at [`crate::SAMPLE_RATE`] for
/// `request` by the backend `info` describes, in `elapsed`, to be stored as `format`.
pub fn track_meta(
    track_id: String,
    request: &GenerationRequest,
    info: ModelInfo,
    format: AudioFormat,
    frames: usize,
    elapsed: Duration,
    tokens_actual: u64,
) -> TrackMeta {
    TrackMeta {
        track_id,
        prompt: request.prompt.clone(),
        seed: request.seed,
        duration_sec: frames as f64 / crate::SAMPLE_RATE as f64,
        sample_rate: crate::SAMPLE_RATE,
        backend: info.backend.to_owned(),
        model_version: info.model_version,
        format,
        created_at: now_unix(),
        last_played: None,
        size_bytes: 0,
        generation_time_sec: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        tokens_actual,
        parent: None,
        seamless: false,
        radio: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_limits_hold() {
        let r = request(Some("  rain  "), Some(7), None, "lofi", 30.0).unwrap();
        assert_eq!((r.prompt.as_str(), r.seed, r.duration_sec), ("rain", 7, 30.0));
        assert_eq!(
            request(Some(" "), None, Some(1.0), "lofi", 30.0).unwrap().prompt,
            "lofi"
        );
        assert!(request(None, None, None, "lofi", 30.0).unwrap().seed <= MAX_SEED);
        assert_eq!(
            request(None, None, Some(0.5), "lofi", 30.0).unwrap_err().field,
            "duration_sec"
        );
        assert_eq!(
            request(None, Some(MAX_SEED + 1), None, "lofi", 30.0).unwrap_err().field,
            "seed"
        );
        let long = "x".repeat(MAX_PROMPT_CHARS + 1);
        assert_eq!(
            request(Some(&long), None, None, "lofi", 30.0).unwrap_err().field,
            "prompt"
        );
    }
}
