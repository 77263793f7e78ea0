//! The radio over JSON-RPC: segments without end, each cached with its parent; MusicGen's join
//! without a seam; a new prompt steers the next stretch (the procedural score's), or starts a
//! new song at once (a model's); a bridge covers a generator that has nothing yet; stop leaves
//! the cache consistent.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    assert_cache_consistent, assert_heard_without_gap_or_jump, capture_path, fixture_daemon, listened_fixture_daemon,
    quantized_fixture, read_capture, tempdir, Daemon,
};
use lofi_convert::FileType;
use lofi_daemon::audio_file::{self, AudioFormat};
use serde_json::{json, Value};

fn segment(d: &mut Daemon) -> Value {
    d.notification("radio_segment", |_| true)
}

fn samples(track: &Value) -> Vec<f32> {
    audio_file::read(Path::new(track["path"].as_str().unwrap()), AudioFormat::Wav)
        .unwrap()
        .samples
}

#[test]
fn the_procedural_radio_goes_on_is_steered_and_stops_cleanly() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &["--backend", "procedural"]);
    let error = d.error("radio_prompt", json!({"prompt": "jazz"}));
    assert_eq!(error["message"], "the radio is not playing");
    let error = d.error("radio_start", json!({"seed": "x"}));
    assert_eq!(error["data"]["field"], "seed");

    let started = d.result("radio_start", json!({"prompt": "rainy night", "seed": 3}));
    assert_eq!(started["prompt"], "rainy night");
    let first = segment(&mut d);
    assert_eq!(first["bridge"], false, "the procedural radio needs no bridge");
    assert_eq!(first["track"]["duration_sec"], 10.0);
    assert!(first["track"].get("parent").is_none());
    d.notification("playback_started", |p| p["track_id"] == first["track"]["track_id"]);
    let second = segment(&mut d);
    assert_eq!(second["track"]["parent"], first["track"]["track_id"]);
    assert_eq!(second["track"]["seamless"], true, "one endless score");
    // The second starts with the first's last moments, then goes on: no seam.
    let (a, b) = (samples(&first["track"]), samples(&second["track"]));
    let overlap = (0.2 * 32_000.0) as usize * 2;
    assert_eq!(&b[..overlap], &a[a.len() - overlap..]);
    let step = (b[overlap] - b[overlap - 2])
        .abs()
        .max((b[overlap + 1] - b[overlap - 1]).abs());
    let largest = b.windows(3).map(|w| (w[2] - w[0]).abs()).fold(0.0f32, f32::max);
    assert!(
        step <= largest,
        "the join steps {step}; the music's largest step is {largest}"
    );

    // A new prompt steers what is made next: it is heard within a couple of segments.
    d.result("radio_prompt", json!({"prompt": "sunny jazz"}));
    let steered = (0..4)
        .map(|_| segment(&mut d))
        .find(|s| s["track"]["prompt"] == "sunny jazz")
        .expect("a later segment follows the new prompt");
    assert_eq!(
        steered["track"]["seamless"], true,
        "the new song goes on from the old one"
    );
    let status = d.result("status", json!({}));
    assert_eq!(status["radio"]["prompt"], "sunny jazz");
    assert_eq!(status["radio"]["backend"], "procedural");
    assert!(status["radio"]["seconds_ahead"].as_f64().unwrap() > 5.0);
    assert!(
        status["playback"]["loop"] == false,
        "the radio never wraps to its first segment"
    );

    // Stopping playback leaves the radio: nothing starts again on its own.
    d.result("stop", json!({}));
    let left = d.notification("radio_stopped", |_| true);
    assert_eq!(left["reason"], "stop");
    assert!(d.result("status", json!({}))["radio"].is_null());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(d.result("status", json!({}))["playback"]["state"], "stopped");
    d.result("radio_start", json!({"prompt": "rainy night", "seed": 3}));
    segment(&mut d);

    assert_eq!(d.result("radio_stop", json!({}))["stopped"], true);
    let status = d.result("status", json!({}));
    assert!(status["radio"].is_null());
    assert_eq!(status["playback"]["loop"], true, "the loop setting comes back");
    assert_eq!(d.result("radio_stop", json!({}))["stopped"], false);
    assert_cache_consistent(&d.cache_dir);
}

#[test]
fn the_musicgen_radio_starts_on_a_bridge_and_its_segments_join_without_a_seam() {
    let dir = tempdir();
    let model = quantized_fixture(dir.path(), FileType::Q8_0);
    let model = model.to_str().unwrap();
    // The model may go back after a second unused, but not while a radio holds a run of it.
    let mut args = vec!["--backend", "ggml", "--model", model];
    args.extend(["--threads", "1", "--keep-model", "1"]);
    let mut d = Daemon::start(dir.path(), &args);
    let started = d.result("radio_start", json!({"prompt": "lofi", "seed": 1}));
    assert_eq!(started["backend"], "ggml", "the generating backend, not the bridges'");
    // Nothing is generated yet: a procedural bridge plays at once.
    let bridge = segment(&mut d);
    assert_eq!(bridge["bridge"], true);
    assert_eq!(bridge["track"]["backend"], "procedural");

    let mut segments = Vec::new();
    while segments.len() < 3 {
        let s = segment(&mut d);
        if s["bridge"] == false {
            segments.push(s["track"].clone());
        }
    }
    assert!(segments[0].get("parent").is_none());
    let overlap = (0.2 * 32_000.0) as usize;
    for pair in segments.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(b["parent"], a["track_id"]);
        assert_eq!(b["seamless"], true);
        let (a, b) = (samples(a), samples(b));
        // The child starts with its parent's last 0.2 s, then goes on from where it ended.
        assert_eq!(&b[..overlap], &a[a.len() - overlap..]);
        let joined: Vec<f32> = a.iter().chain(&b[overlap..]).copied().collect();
        let jump = |w: &[f32]| (w[1] - w[0]).abs();
        let at_join = jump(&joined[a.len() - 1..a.len() + 1]);
        let largest = a.windows(2).chain(b.windows(2)).map(jump).fold(0.0f32, f32::max);
        assert!(
            at_join <= largest,
            "join jumps by {at_join}; the segments by at most {largest}"
        );
    }
    let status = d.result("status", json!({}));
    assert!(status["radio"]["speed"].as_f64().unwrap() > 0.0);
    // Far enough ahead the radio rests, holding its run of the model: the model stays loaded
    // through the rest, and the radio goes on from that run when it generates again.
    let ahead = |d: &mut Daemon| {
        d.result("status", json!({}))["radio"]["seconds_ahead"]
            .as_f64()
            .unwrap()
    };
    common::wait_for(|| ahead(&mut d) >= 60.0);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let resting = d.result("status", json!({}));
    assert_eq!(resting["model"]["loaded"], true, "kept while the radio lives");
    let made = resting["radio"]["segments"].as_u64().unwrap();
    common::wait_for(|| d.result("status", json!({}))["radio"]["segments"].as_u64().unwrap() > made);

    // A new prompt starts a new song at once: what was made ahead of the listener leaves the
    // playlist (not the cache), and the new song's first segment follows the one heard, with
    // a crossfade since its audio does not continue it.
    let playlist = d.result("playlist_get", json!({}));
    let heard = playlist["current"].as_str().unwrap().to_owned();
    let tracks = playlist["tracks"].as_array().unwrap().clone();
    let heard_at = tracks.iter().position(|t| t == heard.as_str()).unwrap();
    let ahead: Vec<Value> = tracks[heard_at + 1..].to_vec();
    assert!(ahead.len() >= 4, "a minute ahead: {playlist}");
    d.result("radio_prompt", json!({"prompt": "sunny jazz"}));
    // What was announced before the prompt's reply joined before it (and was dropped by it).
    d.backlog.clear();
    let playlist = d.result("playlist_get", json!({}));
    let still_ahead = |playlist: &Value| {
        let tracks = playlist["tracks"].as_array().unwrap();
        let at = tracks.iter().position(|t| *t == playlist["current"]).unwrap();
        tracks[at + 1..].to_vec()
    };
    assert_eq!(still_ahead(&playlist), Vec::<Value>::new(), "{playlist}");
    let cached = d.result("cache_list", json!({}));
    let cached: Vec<&Value> = cached.as_array().unwrap().iter().map(|t| &t["track_id"]).collect();
    assert!(ahead.iter().all(|t| cached.contains(&t)), "dropped, not deleted");
    let first = loop {
        let s = segment(&mut d);
        assert_eq!(s["track"]["prompt"], "sunny jazz", "nothing of the old song joins: {s}");
        if s["bridge"] == false {
            break s["track"].clone();
        }
    };
    assert_eq!(first["parent"], heard.as_str());
    assert_ne!(first["seamless"], true, "crossfaded: {first}");
    let playlist = d.result("playlist_get", json!({}));
    assert!(still_ahead(&playlist).contains(&first["track_id"]), "{playlist}");
    let status = d.result("status", json!({}));
    assert_eq!(status["radio"]["prompt"], "sunny jazz");
    d.result("radio_stop", json!({}));
    common::wait_for(|| d.result("status", json!({}))["model"]["loaded"] == false);
    assert_cache_consistent(&d.cache_dir);

    // The session exported as one file: the segments joined where they overlap.
    let out = dir.path().join("session.wav");
    let last = segments[2]["track_id"].as_str().unwrap();
    let exported = common::daemon_command()
        .args(["export", last])
        .arg(&out)
        .arg("--cache-dir")
        .arg(&d.cache_dir)
        .output()
        .unwrap();
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let joined: Vec<f32> = segments
        .iter()
        .enumerate()
        .flat_map(|(i, s)| samples(s).split_off(if i == 0 { 0 } else { overlap }))
        .collect();
    let file = audio_file::read(&out, AudioFormat::Wav).unwrap().samples;
    assert_eq!(file.len(), joined.len());
    assert!(
        file.iter().zip(&joined).all(|(a, b)| (a - b).abs() < 1e-4),
        "16-bit rounding at most"
    );
    let missing = common::daemon_command()
        .args(["export", "0000beef"])
        .arg(&out)
        .arg("--cache-dir")
        .arg(&d.cache_dir)
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "lofi-daemon: track 0000beef is not in the cache (evicted or deleted): the session ends before it"
    );
}

/// The listener's side of a generator slower than real time (a decoder step made 30 ms
/// slower: the fixture then makes ~0.4 s of audio a second, as musicgen-small does on 2 cores),
/// heard in real time through the `none` output's capture (ALSA's `file` plugin over `null`
/// plays faster than real time): bridge, stream, bridge again, and never a silence longer than
/// 50 ms nor a jump the tracks themselves do not have.
#[test]
fn a_radio_slower_than_real_time_never_goes_silent_and_never_cuts_hard() {
    let dir = tempdir();
    let out = capture_path(dir.path());
    let mut d = listened_fixture_daemon(dir.path(), 30);
    d.result("radio_start", json!({"prompt": "lofi", "seed": 2}));
    // Play on until a second bridge has started: bridge → stream → bridge.
    let mut tracks: Vec<Value> = Vec::new();
    let mut bridges_heard = 0;
    let mut stream_heard = false;
    let mut earlier = std::mem::take(&mut d.backlog).into_iter();
    while bridges_heard < 2 {
        let v = earlier
            .next()
            .or_else(|| d.read(std::time::Duration::from_secs(60)))
            .expect("the radio went quiet");
        match v["method"].as_str() {
            Some("radio_segment") => tracks.push(v["params"]["track"].clone()),
            Some("playback_started") => {
                let id = &v["params"]["track_id"];
                let track = tracks.iter().find(|t| t["track_id"] == *id).expect("a radio track");
                if track["backend"] == "procedural" {
                    assert!(bridges_heard == 0 || stream_heard, "a bridge follows the stream");
                    bridges_heard += 1;
                } else {
                    stream_heard = true;
                }
            }
            _ => {}
        }
    }
    std::thread::sleep(std::time::Duration::from_secs(3)); // into the second bridge's fade
    d.result("radio_stop", json!({}));
    let status = d.result("status", json!({}));
    assert!(status["playback"]["dropouts"] == 0, "{status}");

    let played = read_capture(&out);
    assert!(played.len() > 48_000 * 35, "heard {} s", played.len() / 48_000);
    // Up to the stop (its fade-out included).
    assert_heard_without_gap_or_jump(&played, tracks.iter().map(samples));
}

/// Eviction takes the radio's tracks before the ones asked for, whatever their age: hours of
/// radio never push out the user's tracks.
#[test]
fn eviction_takes_the_radios_tracks_before_the_ones_asked_for() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &["--backend", "procedural"]);
    let mut mine = Vec::new();
    for seed in 0..2 {
        mine.push(d.generate(json!({"prompt": "mine", "seed": seed, "duration_sec": 5}))["track_id"].clone());
        std::thread::sleep(std::time::Duration::from_millis(1100)); // distinct created_at seconds
    }
    d.result("radio_start", json!({"prompt": "rainy night", "seed": 3}));
    for _ in 0..2 {
        assert_eq!(segment(&mut d)["track"]["radio"], true);
    }
    d.result("radio_stop", json!({}));
    let ids = |d: &mut Daemon| -> Vec<Value> {
        let list = d.result("cache_list", json!({}));
        list.as_array().unwrap().iter().map(|t| t["track_id"].clone()).collect()
    };
    assert!(ids(&mut d).len() >= 4);
    // Mine are the oldest and were never played: by age alone they would go first.
    d.result("cache_config", json!({"max_tracks": 2}));
    let mut left = ids(&mut d);
    left.sort_by_key(|v| v.to_string());
    mine.sort_by_key(|v| v.to_string());
    assert_eq!(left, mine);
    // Among the rest, the least recently used goes first as before.
    d.result("cache_config", json!({"max_tracks": 1}));
    let newer = d.result("cache_list", json!({}))[0]["seed"].clone();
    assert_eq!(newer, 1);
    assert_cache_consistent(&d.cache_dir);
}

/// A stereo MusicGen's radio streams both channels: its segments are stereo, left and right
/// apart, and each starts with its parent's last 0.2 s of both.
#[test]
fn a_stereo_model_radio_streams_stereo_segments() {
    let dir = tempdir();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/musicgen-stereo/model-f16.gguf");
    let model = model.to_str().unwrap();
    let mut d = Daemon::start(dir.path(), &["--backend", "ggml", "--model", model, "--threads", "1"]);
    d.result("radio_start", json!({"prompt": "stereo rain", "seed": 2}));
    let mut segments = Vec::new();
    while segments.len() < 2 {
        let s = segment(&mut d);
        if s["bridge"] == false {
            segments.push(s["track"].clone());
        }
    }
    d.result("radio_stop", json!({}));
    let read = |t: &Value| audio_file::read(Path::new(t["path"].as_str().unwrap()), AudioFormat::Wav).unwrap();
    let (a, b) = (read(&segments[0]), read(&segments[1]));
    assert_eq!((a.channels, b.channels), (2, 2));
    let apart = a.samples.chunks_exact(2).filter(|f| (f[0] - f[1]).abs() > 1e-3).count();
    assert!(
        apart > a.frames() / 4,
        "left and right differ in {apart} of {} frames",
        a.frames()
    );
    let overlap = (0.2 * 32_000.0) as usize * 2;
    assert_eq!(&b.samples[..overlap], &a.samples[a.samples.len() - overlap..]);
    assert_cache_consistent(&d.cache_dir);
}

/// A track asked for while a radio slower than real time holds the model (it never rests, so
/// it always wants its next window) gets the model between two of the radio's windows.
#[test]
fn a_generation_asked_for_during_a_slow_radio_gets_the_model_between_its_windows() {
    let dir = tempdir();
    let mut d = listened_fixture_daemon(dir.path(), 30);
    d.result("radio_start", json!({"prompt": "lofi", "seed": 4}));
    // The radio's first window is under way once its opening bridge is queued.
    let bridge = segment(&mut d);
    assert_eq!(bridge["bridge"], true);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let reply = d.result(
        "generate",
        json!({"prompt": "rain on a window", "duration_sec": 2, "seed": 1}),
    );
    let id = reply["track_id"].clone();
    // A window of the fixture takes ~16 s at 30 ms a step, the track ~3 s: it comes within the
    // harness's 30 s (without the turn it waited for good: the radio took the lock again).
    let done = d.notification("generation_complete", |p| p["track_id"] == id);
    assert_eq!(done["backend"], "ggml");
    assert!(d.result("status", json!({}))["radio"].is_object());
    d.result("radio_stop", json!({}));
}

/// From its start the model is the radio's: it is not handed back while the opening bridge
/// renders (after `--keep-model` unused it was, and the first window loaded it again).
#[test]
fn a_model_radio_keeps_its_model_while_its_opening_bridge_renders() {
    let dir = tempdir();
    let mut d = fixture_daemon(dir.path(), 0, |cmd| {
        cmd.args(["--keep-model", "1"]);
    });
    // The idle generation worker hands the model back a second after its last job: the radio
    // starts just before, so that moment comes while its bridge (30 s of procedural music,
    // rendered and stored, then 0.2 s for the playlist to take it) is on its way.
    d.generate(json!({"prompt": "warm up", "duration_sec": 1, "seed": 5}));
    std::thread::sleep(Duration::from_millis(800));
    d.result("radio_start", json!({"prompt": "lofi", "seed": 1}));
    let started = Instant::now();
    let mut loaded = Vec::new();
    while !d
        .backlog
        .iter()
        .any(|v| v["method"] == "radio_segment" && v["params"]["bridge"] == false)
    {
        assert!(started.elapsed() < common::timeout(), "no segment: {:?}", d.backlog);
        loaded.push(d.result("status", json!({}))["model"]["loaded"].clone());
        std::thread::sleep(Duration::from_millis(10));
    }
    let handed_back = loaded.iter().filter(|l| **l != true).count();
    assert_eq!(
        handed_back,
        0,
        "not loaded at {handed_back} of {} polls over {:.1} s under the radio",
        loaded.len(),
        started.elapsed().as_secs_f64()
    );
    d.result("radio_stop", json!({}));
}

/// A model file touched (or written over no shorter) under a model radio leaves the radio
/// playing: only pages lost from under the model end it (a model without a radio is loaded
/// again instead: tests/ggml_backend.rs).
#[test]
fn a_model_radio_goes_on_when_its_model_file_is_touched() {
    let dir = tempdir();
    let mut d = fixture_daemon(dir.path(), 0, |_| {});
    d.result("radio_start", json!({"prompt": "lofi", "seed": 2}));
    while segment(&mut d)["bridge"] == true {}
    let model = dir.path().join("tiny-q8_0.gguf");
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&model)
        .unwrap()
        .set_modified(later)
        .unwrap();
    // A new song starts a window at once, which checks the file first.
    d.result("radio_prompt", json!({"prompt": "sunny jazz"}));
    let next = loop {
        let s = segment(&mut d);
        if s["bridge"] == false && s["track"]["prompt"] == "sunny jazz" {
            break s;
        }
    };
    assert_eq!(next["track"]["backend"], "ggml");
    assert!(
        !d.backlog.iter().any(|v| v["method"] == "radio_stopped"),
        "{:?}",
        d.backlog
    );
    assert!(d.result("status", json!({}))["radio"].is_object());
    d.result("radio_stop", json!({}));
}
