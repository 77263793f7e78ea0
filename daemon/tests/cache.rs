//! The shared on-disk cache: determinism, atomic writes under kill -9, two daemons,
//! MP3 through lame and the fallback without it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{tempdir, Daemon};
use serde_json::{json, Value};

fn audio_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

#[test]
fn same_inputs_give_bit_identical_wavs_across_daemons() {
    let (a, b) = (tempdir(), tempdir());
    let params = json!({ "prompt": "lofi, 80 bpm, in D minor, rain", "seed": 1234, "duration_sec": 8 });
    let pa = Daemon::start(a.path(), &[]).generate(params.clone())["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let pb = Daemon::start(b.path(), &[]).generate(params)["path"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(Path::new(&pa).file_name(), Path::new(&pb).file_name());
    assert!(
        std::fs::read(&pa).unwrap() == std::fs::read(&pb).unwrap(),
        "WAVs differ"
    );
}

#[test]
fn kill_9_mid_generation_leaves_no_visible_partial_track() {
    let dir = tempdir();
    for attempt in 0..6u64 {
        let mut d = Daemon::start(dir.path(), &[]);
        d.result(
            "generate",
            json!({ "prompt": "crash", "seed": attempt, "duration_sec": 600 }),
        );
        d.notification("generation_started", |_| true);
        // Kill at different points of render, encode and rename.
        std::thread::sleep(Duration::from_millis(300 + attempt * 1500));
        d.child.kill().unwrap(); // SIGKILL
        d.child.wait().unwrap();
    }
    let mut d = Daemon::start(dir.path(), &[]);
    let listed = d.result("cache_list", json!({}));
    for track in listed.as_array().unwrap() {
        // Anything listed is whole: its WAV parses and has the full length.
        let reader = hound::WavReader::open(track["path"].as_str().unwrap()).expect("complete WAV");
        assert_eq!(reader.duration(), 600 * 32000);
    }
    for name in audio_files(&d.cache_dir) {
        let id = name.split('.').next().unwrap();
        let sidecar = d.cache_dir.join(format!("{id}.json"));
        let parsed: Value = serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).expect("sidecar is whole JSON");
        assert_eq!(parsed["track_id"], id);
    }
}

#[test]
fn two_daemons_share_one_cache() {
    let dir = tempdir();
    let mut a = Daemon::start(dir.path(), &[]);
    let mut b = Daemon::start(dir.path(), &[]);
    // Both write at once, including the very same track.
    for seed in 0..4 {
        a.result(
            "generate",
            json!({ "prompt": "shared", "seed": seed, "duration_sec": 3 }),
        );
        b.result(
            "generate",
            json!({ "prompt": "shared", "seed": 3 - seed, "duration_sec": 3 }),
        );
    }
    for _ in 0..4 {
        a.notification("generation_complete", |_| true);
        b.notification("generation_complete", |_| true);
    }
    let (seen_a, seen_b) = (a.cached_ids(), b.cached_ids());
    assert_eq!(seen_a.len(), 4);
    assert_eq!(seen_a, seen_b);
    // What one generated, the other serves from cache.
    let hit = b.result("generate", json!({ "prompt": "shared", "seed": 0, "duration_sec": 3 }));
    assert_eq!(hit["status"], "cached");
    // A delete in one is seen by the other.
    a.result("cache_delete", json!({ "track_id": seen_a[0] }));
    assert_eq!(b.cached_ids().len(), 3);
    assert_eq!(
        audio_files(&a.cache_dir).len(),
        6,
        "3 WAVs + 3 sidecars, no temp files visible"
    );
}

#[test]
fn mp3_through_lame() {
    if !common::lame_or_skip() {
        return;
    }
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &["--format", "mp3"]);
    let started = Instant::now();
    let done = d.generate(json!({ "prompt": "mp3", "seed": 1, "duration_sec": 10 }));
    assert_eq!(done["format"], "mp3");
    let path = done["path"].as_str().unwrap();
    assert!(path.ends_with(".mp3"));
    let size = std::fs::metadata(path).unwrap().len();
    // 128 kbit/s for 10 s is ~160 KB, against 640 KB of WAV.
    assert!((100_000..250_000).contains(&size), "{size} bytes");
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"ID3"),
        "MP3 carries an ID3v2 tag with the provenance"
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // A damaged MP3 cannot play, and the error says what lame said, not that lame is missing.
    std::fs::write(path, b"not an mp3 at all").unwrap();
    let err = d.error("play", json!({ "track_id": done["track_id"] }));
    assert_eq!(err["data"]["reason"], "AUDIO_PLAYBACK_ERROR", "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with("cannot decode ") && message.contains("lame failed") && !message.contains('\n'),
        "{message}"
    );
}

#[test]
fn missing_lame_warns_once_and_falls_back_to_wav() {
    let dir = tempdir();
    let mut d = Daemon::start_with(dir.path(), &["--format", "mp3"], |cmd| {
        cmd.env("PATH", "/nonexistent");
    });
    let warning = d.notification("daemon_warning", |_| true);
    assert_eq!(warning["code"], "LAME_NOT_FOUND");
    let done = d.generate(json!({ "prompt": "no lame", "seed": 1, "duration_sec": 1 }));
    assert_eq!(done["format"], "wav");
    d.result("cache_config", json!({ "format": "mp3" }));
    d.result("status", json!({}));
    assert!(
        !d.backlog.iter().any(|v| v["method"] == "daemon_warning"),
        "warned once only"
    );
}

#[test]
fn track_waveform_draws_a_cached_track_and_rejects_bad_sizes() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let track = d.generate(json!({ "prompt": "lofi", "seed": 3, "duration_sec": 4 }));
    let id = track["track_id"].clone();
    let drawn = d.result("track_waveform", json!({ "track_id": id, "width": 40, "rows": 4 }));
    let lines = drawn["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l.as_str().unwrap().chars().count() == 40));
    assert!(
        lines[1].as_str().unwrap().contains('█'),
        "a mastered track reaches the middle rows"
    );

    let err = d.error("track_waveform", json!({ "track_id": id, "rows": 3 }));
    assert_eq!(err["data"]["field"], "rows");
    let err = d.error("track_waveform", json!({ "track_id": "00000000" }));
    assert_eq!(err["data"]["reason"], "INVALID_TRACK_ID");
    let err = d.error("track_waveform", json!({ "track_id": "../../etc" }));
    assert_eq!(err["data"]["reason"], "INVALID_TRACK_ID");
}
