//! A track asked to play plays while it generates (README, Streaming): heard before its
//! generation completes when the generator is faster than real time, started only once it can
//! keep going when it is slower (the stand-in playing meanwhile, no gap, no jump), and a stream
//! cut short leaves nothing half-written in the cache.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    assert_cache_consistent, assert_heard_without_gap_or_jump, capture_path, listened_fixture_daemon, read_capture,
    tempdir, Daemon,
};
use lofi_daemon::audio_file::{self, AudioFormat};
use serde_json::{json, Value};

/// Notifications until `done` says stop, with the moment each arrived; a failure, not a hang,
/// when that takes more than two minutes (a crawling generation's progress never goes quiet).
fn follow(d: &mut Daemon, mut done: impl FnMut(&Value) -> bool) -> Vec<(Instant, Value)> {
    let mut seen = Vec::new();
    let mut earlier = std::mem::take(&mut d.backlog).into_iter();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = earlier
            .next()
            .or_else(|| d.read(deadline.saturating_duration_since(Instant::now())))
            .expect("the awaited notification within two minutes");
        let stop = done(&v);
        seen.push((Instant::now(), v));
        if stop {
            return seen;
        }
    }
}

fn is(v: &Value, method: &str, track_id: &str) -> bool {
    v["method"] == method && v["params"]["track_id"] == track_id
}

fn when(seen: &[(Instant, Value)], method: &str, track_id: &str) -> Option<Instant> {
    seen.iter().find(|(_, v)| is(v, method, track_id)).map(|(t, _)| *t)
}

/// The cached track's left channel at 48 kHz, as the device gets it (mono centred at -3 dB).
fn as_heard(path: &str) -> Vec<f32> {
    let audio = audio_file::read(Path::new(path), AudioFormat::Wav).unwrap();
    let stereo = audio.into_stereo();
    let resampled = lofi_daemon::playback::prepare::resample_channels(&stereo, 48_000).unwrap();
    resampled.iter().step_by(2).copied().collect()
}

/// Normalised correlation of `a` and `b` (1: the same up to a gain).
fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| *p as f64 * *q as f64).sum::<f64>();
    dot(a, b) / (dot(a, a) * dot(b, b)).sqrt().max(1e-12)
}

/// A generator about twice as fast as real time: the AI track starts playing within seconds,
/// long before its generation completes, and what is heard then is that track (the cached file,
/// mastered as a whole, matches it up to the stream's running gain).
#[test]
fn a_track_asked_to_play_is_heard_before_its_generation_completes() {
    let dir = tempdir();
    let mut d = listened_fixture_daemon(dir.path(), 8);
    d.result("playback_config", json!({ "loop": false }));
    d.result("crossfade_set", json!({ "duration_sec": 0 }));
    let asked = Instant::now();
    let ack = d.result(
        "generate",
        json!({ "prompt": "rain", "seed": 3, "duration_sec": 10, "play": true }),
    );
    let id = ack["track_id"].as_str().unwrap().to_owned();
    let capture = capture_path(dir.path());
    let mut heard_at_start = 0;
    let mut heard_at_complete = 0;
    let seen = follow(&mut d, |v| {
        if is(v, "playback_started", &id) {
            heard_at_start = read_capture(&capture).len();
        }
        if is(v, "generation_complete", &id) {
            heard_at_complete = read_capture(&capture).len();
            return true;
        }
        false
    });
    let started = when(&seen, "playback_started", &id).expect("the AI track started while it generated");
    let complete = when(&seen, "generation_complete", &id).unwrap();
    eprintln!(
        "AI audio after {:.2} s; generation complete after {:.2} s",
        (started - asked).as_secs_f64(),
        (complete - asked).as_secs_f64()
    );
    assert!(complete - started >= Duration::from_secs(1), "heard only at the end");
    let before_complete = &read_capture(&capture)[heard_at_start..heard_at_complete];
    let audible = before_complete.iter().filter(|s| s.abs() > 1e-3).count();
    assert!(
        audible > 48_000,
        "{audible} audible samples before the generation completed"
    );

    let done = seen.last().unwrap().1["params"].clone();
    let cached = as_heard(done["path"].as_str().unwrap());
    // The notification reaches us a little after the switch: find the track's start nearby.
    let window = &before_complete[..48_000.min(before_complete.len())];
    let best = (0..4_800)
        .map(|lag| correlation(window, &cached[lag..lag + window.len()]))
        .chain((1..4_800).map(|lead| {
            let w = &before_complete[lead..lead + window.len().min(before_complete.len() - lead)];
            correlation(w, &cached[..w.len()])
        }))
        .fold(f64::MIN, f64::max);
    assert!(
        best > 0.95,
        "what played before completion is the track: correlation {best:.3}"
    );
    d.notification("playback_ended", |p| p["track_id"] == id.as_str());
    assert_cache_consistent(&d.cache_dir);
}

/// A generator slower than real time (a decoder step 30 ms slower: the fixture then makes
/// ~0.4 s of audio a second, as musicgen-small does on 2 cores): the stand-in plays (looping),
/// the AI track starts once the rest of it will arrive in time — still before it is complete —
/// and crossfades in, and the listener never hears a stop, a silence over 50 ms nor a jump the
/// tracks do not have.
#[test]
fn a_stream_slower_than_real_time_starts_when_it_can_keep_going() {
    let dir = tempdir();
    let mut d = listened_fixture_daemon(dir.path(), 30);
    let asked = Instant::now();
    let ack = d.result(
        "generate",
        json!({ "prompt": "rain", "seed": 4, "duration_sec": 6, "play": true }),
    );
    let id = ack["track_id"].as_str().unwrap().to_owned();
    let mut seen = follow(&mut d, |v| is(v, "playback_started", &id));
    // Heard once the crossfade passes its middle; its buffer, if it still generates.
    let playback = loop {
        let playback = d.result("status", json!({}))["playback"].clone();
        if playback["track_id"] == id.as_str() {
            break playback;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let complete = |d: &Daemon| d.backlog.iter().any(|v| is(v, "generation_complete", &id));
    if !seen.iter().any(|(_, v)| is(v, "generation_complete", &id)) && !complete(&d) {
        let buffered = playback["streaming"]["buffered_sec"].as_f64().unwrap();
        assert!(
            buffered > 1.0,
            "the stream plays with {buffered} s made ahead: {playback}"
        );
    }
    seen.extend(follow(&mut d, |v| is(v, "playback_ended", &id)));
    let stand_in = seen
        .iter()
        .find(|(_, v)| v["method"] == "playback_started")
        .map(|(_, v)| v["params"]["track_id"].as_str().unwrap().to_owned())
        .unwrap();
    assert_ne!(stand_in, id, "the stand-in plays first");
    let started = when(&seen, "playback_started", &id).expect("the AI track played");
    let complete = when(&seen, "generation_complete", &id).unwrap();
    eprintln!(
        "AI audio after {:.2} s; generation complete after {:.2} s",
        (started - asked).as_secs_f64(),
        (complete - asked).as_secs_f64()
    );
    assert!(started < complete, "it started before its generation completed");
    let status = d.result("status", json!({}));
    assert_eq!(status["playback"]["dropouts"], 0, "{status}");

    let played = read_capture(&capture_path(dir.path()));
    // The capture runs only while something plays: as long as the wall clock, nothing stopped.
    let first_started = seen.iter().find(|(_, v)| v["method"] == "playback_started").unwrap().0;
    let playing_sec = (seen.last().unwrap().0 - first_started).as_secs_f64();
    let heard_sec = played.len() as f64 / 48_000.0;
    assert!(
        heard_sec >= playing_sec - 0.5,
        "heard {heard_sec:.1} s in {playing_sec:.1} s"
    );
    let paths: Vec<String> = seen
        .iter()
        .filter(|(_, v)| v["method"] == "generation_complete")
        .map(|(_, v)| v["params"]["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths.len(), 2, "the stand-in and the AI track");
    assert_heard_without_gap_or_jump(&played, paths.iter().map(|p| as_heard(p)));
}

/// A daemon killed while a track streams: the track was never in the cache, and nothing
/// half-written is; a new daemon on the same cache generates it again from the start.
#[test]
fn a_stream_cut_short_leaves_the_cache_consistent() {
    let dir = tempdir();
    let mut d = listened_fixture_daemon(dir.path(), 30);
    let ack = d.result(
        "generate",
        json!({ "prompt": "rain", "seed": 5, "duration_sec": 6, "play": true }),
    );
    let id = ack["track_id"].as_str().unwrap().to_owned();
    d.notification("generation_progress", |p| {
        p["track_id"] == id.as_str() && p["percent"].as_u64() >= Some(20)
    });
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    assert_cache_consistent(&d.cache_dir);
    let cached = std::fs::read_dir(&d.cache_dir).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(id.as_str())
    });
    assert_eq!(cached.count(), 0, "nothing of the cut stream is cached");

    let mut again = listened_fixture_daemon(dir.path(), 0);
    let ack = again.result("generate", json!({ "prompt": "rain", "seed": 5, "duration_sec": 6 }));
    assert_eq!(
        (ack["track_id"].as_str(), ack["status"].as_str()),
        (Some(id.as_str()), Some("queued"))
    );
    again.notification("generation_complete", |p| p["track_id"] == id.as_str());
    assert_cache_consistent(&again.cache_dir);
}
