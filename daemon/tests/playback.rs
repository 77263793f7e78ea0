//! Playback through the real binary: events and timing on the `none` clock, and the
//! exact bytes played through ALSA's `file` plugin (an asoundrc written by the test).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{tempdir, Daemon};
use lofi_daemon::audio::Audio;
use lofi_daemon::playback::prepare::resample_channels;
use serde_json::{json, Value};

fn position(d: &mut Daemon) -> f64 {
    d.result("status", json!({}))["playback"]["position_sec"]
        .as_f64()
        .unwrap()
}

fn two_tracks(d: &mut Daemon, seconds: f64) -> (String, String, PathBuf, PathBuf) {
    let a = d.generate(json!({ "prompt": "track a", "seed": 1, "duration_sec": seconds }));
    let b = d.generate(json!({ "prompt": "track b", "seed": 2, "duration_sec": seconds }));
    let id = |v: &Value| v["track_id"].as_str().unwrap().to_owned();
    let path = |v: &Value| PathBuf::from(v["path"].as_str().unwrap());
    (id(&a), id(&b), path(&a), path(&b))
}

#[test]
fn transport_events_and_timing_on_the_none_clock() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let (a, b, _, _) = two_tracks(&mut d, 3.0);
    d.result("playback_config", json!({ "loop": false }));
    d.result("prefetch_config", json!({ "enabled": false }));
    assert_eq!(
        d.result("crossfade_set", json!({ "duration_sec": 1.0 }))["duration_sec"],
        1.0
    );
    assert_eq!(d.result("volume_set", json!({ "level": 0.5 }))["level"], 0.5);
    assert_eq!(d.result("volume_get", json!({}))["level"], 0.5);

    let play_sent = Instant::now();
    let played = d.result("play", json!({ "track_id": a }));
    assert_eq!(played["state"], "playing");
    d.notification("playback_started", |p| p["track_id"] == a);
    let started_seen = Instant::now();
    assert_eq!(
        d.result("playlist_add", json!({ "track_id": b }))["tracks"],
        json!([a, b])
    );
    assert_eq!(d.result("playlist_get", json!({}))["tracks"], json!([a, b]));

    std::thread::sleep(Duration::from_millis(700));
    // Measured against the clock around the calls, not the sleep: on a loaded machine the
    // status request lands later than 700 ms into the track.
    let asked = Instant::now();
    let p = position(&mut d);
    let (least, most) = (
        (asked - started_seen).as_secs_f64() - 0.25,
        play_sent.elapsed().as_secs_f64() + 0.05,
    );
    assert!(
        (least..=most).contains(&p),
        "position {p:.2} s, expected {least:.2}-{most:.2} s"
    );
    d.result("pause", json!({}));
    d.notification("playback_paused", |p| p["track_id"] == a);
    std::thread::sleep(Duration::from_millis(100)); // the 50 ms fade-out
    let paused_at = position(&mut d);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(position(&mut d), paused_at, "pause holds the position");
    assert_eq!(d.result("status", json!({}))["playback"]["state"], "paused");
    d.result("resume", json!({}));
    d.notification("playback_resumed", |p| p["track_id"] == a);

    // a ends into b (crossfaded), then b finishes: the playlist does not loop.
    d.notification("playback_ended", |p| p["track_id"] == a && p["reason"] == "finished");
    d.notification("playback_started", |p| p["track_id"] == b);
    d.notification("playback_ended", |p| p["track_id"] == b && p["reason"] == "finished");
    let status = d.result("status", json!({}));
    assert_eq!(status["playback"]["state"], "stopped");
    assert_eq!(status["playlist_length"], 2);

    // skip crossfades to the next track; stop is immediate and resets the position.
    d.result("play", json!({ "track_id": a }));
    d.notification("playback_started", |p| p["track_id"] == a);
    d.result("skip", json!({}));
    // From the start of its 1 s crossfade the track skipped to is the one heard.
    let playlist = d.result("playlist_get", json!({}));
    assert_eq!(playlist["current"], b.as_str(), "{playlist}");
    assert_eq!(d.result("status", json!({}))["playback"]["track_id"], b.as_str());
    d.notification("playback_ended", |p| p["track_id"] == a && p["reason"] == "skipped");
    d.notification("playback_started", |p| p["track_id"] == b);
    d.result("stop", json!({}));
    d.notification("playback_ended", |p| p["reason"] == "stopped");
    let status = d.result("status", json!({}));
    assert_eq!(
        (
            status["playback"]["state"].as_str(),
            status["playback"]["position_sec"].as_f64()
        ),
        (Some("stopped"), Some(0.0))
    );

    // The playing track is protected from deletion; others can go.
    d.result("play", json!({ "track_id": a }));
    let err = d.error("cache_delete", json!({ "track_id": a }));
    assert!(err["message"].as_str().unwrap().contains("playing"), "{err}");
    d.result("playlist_remove", json!({ "track_id": b }));
    assert_eq!(d.result("playlist_get", json!({}))["tracks"], json!([a]));
    d.result("playlist_clear", json!({}));
    assert_eq!(d.result("playlist_get", json!({}))["tracks"], json!([]));
}

#[test]
fn play_with_an_empty_cache_generates_then_prefetch_fills_the_playlist() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let reply = d.result("play", json!({}));
    assert_eq!(reply["state"], "generating");
    let first = reply["track_id"].as_str().unwrap().to_owned();
    d.notification("playback_started", |p| p["track_id"] == first);
    // Half way through, with nothing queued, prefetch generates the next track
    // (same prompt, new seed) and it joins the playlist.
    let next = d.notification("generation_complete", |p| p["prefetch"] == true);
    assert_eq!(next["prompt"], "lofi hip hop, chill, mellow piano, vinyl crackle");
    assert_ne!(next["track_id"], first.as_str());
    let playlist = d.result("playlist_get", json!({}))["tracks"].clone();
    assert_eq!(playlist, json!([first, next["track_id"]]));
    let q = d.result("queue_status", json!({}));
    assert_eq!(q["prefetch_pending"], false);
}

/// An asoundrc whose default PCM writes raw frames into `out`.
fn alsa_home(dir: &Path) -> (PathBuf, PathBuf) {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = dir.join("played.raw");
    let rc = format!(
        "pcm.!default {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n}}\n",
        out.display()
    );
    std::fs::write(home.join(".asoundrc"), rc).unwrap();
    (home, out)
}

/// Interleaved s16 stereo → left and right in f32.
fn read_played_channels(path: &Path) -> [Vec<f32>; 2] {
    let bytes = std::fs::read(path).unwrap();
    let samples: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / i16::MAX as f32)
        .collect();
    [0, 1].map(|c| samples.iter().skip(c).step_by(2).copied().collect())
}

/// The left channel played (the tests that follow a position need one).
fn read_played(path: &Path) -> Vec<f32> {
    let [left, _] = read_played_channels(path);
    left
}

/// A cached track's left and right as the device should get them (mono centred at -3 dB).
fn at_device_rate_channels(path: &Path) -> [Vec<f32>; 2] {
    let audio = lofi_daemon::audio_file::wav::read(path).unwrap().into_stereo();
    let resampled = Audio::stereo(resample_channels(&audio, 48_000).unwrap());
    [resampled.channel(0), resampled.channel(1)]
}

fn at_device_rate(path: &Path) -> Vec<f32> {
    let [left, _] = at_device_rate_channels(path);
    left
}

/// Offset in `played` where `expected` (scaled by `gain`) starts, searched by matching a
/// window in the middle of `expected`.
fn align(played: &[f32], expected: &[f32], gain: f32, probe: usize) -> Option<usize> {
    let window = &expected[probe..probe + 200];
    (0..played.len().saturating_sub(probe + 200)).find(|&k| {
        played[k + probe..k + probe + 200]
            .iter()
            .zip(window)
            .all(|(p, e)| (p - e * gain).abs() < 3e-4)
    })
}

#[test]
fn bytes_through_the_alsa_file_plugin_show_volume_and_equal_power_crossfade() {
    let dir = tempdir();
    let (home, out) = alsa_home(dir.path());
    let mut d = Daemon::start_with(dir.path(), &["--audio-device", "default"], |cmd| {
        cmd.env("HOME", &home);
    });
    let devices = d.result("audio_devices", json!({}));
    assert_eq!(devices["output"]["sample_rate"], 48000, "{devices}");
    assert_eq!(devices["output"]["sample_format"], "i16");
    assert_eq!(devices["available"][0]["is_default"], true);
    let (a, b, path_a, path_b) = two_tracks(&mut d, 3.0);
    d.result("playback_config", json!({ "loop": false }));
    d.result("crossfade_set", json!({ "duration_sec": 1.0 }));
    d.result("volume_set", json!({ "level": 0.5 }));
    // The file sink is not paced (it takes frames as fast as they come), so the whole
    // playlist is set up before playing.
    d.result("playlist_add", json!({ "track_id": a }));
    d.result("playlist_add", json!({ "track_id": b }));
    d.result("play", json!({}));
    d.notification("playback_ended", |p| p["track_id"] == b && p["reason"] == "finished");
    d.result("stop", json!({}));

    let played_channels = read_played_channels(&out);
    let [a_left, a_right] = at_device_rate_channels(&path_a);
    let [b_left, b_right] = at_device_rate_channels(&path_b);
    assert!(a_left != a_right, "the procedural tracks are stereo");
    // Both channels as in the files: the left first, then the right at the same offset.
    let start = align(&played_channels[0], &a_left, 0.5, 24_000).expect("track a found at volume 0.5");
    for (played, ea, eb) in [
        (&played_channels[0], &a_left, &b_left),
        (&played_channels[1], &a_right, &b_right),
    ] {
        let fade = 48_000; // 1 s crossfade at 48 kHz
                           // Volume: the whole body of a (past the 50 ms start ramp) is exactly half.
        for i in (4_800..ea.len() - fade).step_by(7) {
            assert!((played[start + i] - 0.5 * ea[i]).abs() < 3e-4, "frame {i}");
        }
        // Crossfade: the last second of a overlaps the first of b with cos/sin gains.
        for j in (0..fade).step_by(11) {
            let theta = j as f32 / fade as f32 * std::f32::consts::FRAC_PI_2;
            let expected = 0.5 * (ea[ea.len() - fade + j] * theta.cos() + eb[j] * theta.sin());
            let got = played[start + ea.len() - fade + j];
            assert!(
                (got - expected).abs() < 4e-4,
                "crossfade frame {j}: {got} vs {expected}"
            );
        }
        // Then b alone to its end; total length a + b - fade; silence after.
        let b_start = start + ea.len() - fade;
        for i in (fade..eb.len()).step_by(7) {
            assert!((played[b_start + i] - 0.5 * eb[i]).abs() < 3e-4, "b frame {i}");
        }
        assert!(
            played[b_start + eb.len()..].iter().all(|&s| s == 0.0),
            "silence after the end"
        );
    }
}

/// Without a crossfade (`crossfade_set 0`, as for tracks under 2 s) the playlist goes on from
/// one track to the next with neither a gap nor an overlap, through ALSA's file plugin, and a
/// lone track loops; playback used to stop after the first track.
#[test]
fn without_a_crossfade_tracks_follow_each_other_gaplessly() {
    let dir = tempdir();
    let (home, out) = alsa_home(dir.path());
    let mut d = Daemon::start_with(dir.path(), &["--audio-device", "default"], |cmd| {
        cmd.env("HOME", &home);
    });
    let (a, b, path_a, path_b) = two_tracks(&mut d, 3.0);
    d.result("prefetch_config", json!({ "enabled": false }));
    d.result("crossfade_set", json!({ "duration_sec": 0 }));
    d.result("volume_set", json!({ "level": 0.5 }));
    d.result("playlist_add", json!({ "track_id": a }));
    d.result("playlist_add", json!({ "track_id": b }));
    d.result("play", json!({}));
    d.notification("playback_ended", |p| p["track_id"] == a && p["reason"] == "finished");
    d.notification("playback_started", |p| p["track_id"] == b);
    d.notification("playback_started", |p| p["track_id"] == a);
    d.result("stop", json!({}));
    // A buffer the callback filled with silence while the control thread held the mixer would
    // shift b: said beside a failure (this test failed once in ~13 runs of the whole suite, cause
    // not known).
    let dropouts = d.result("status", json!({}))["playback"]["dropouts"].clone();

    let played = read_played(&out);
    let (ea, eb) = (at_device_rate(&path_a), at_device_rate(&path_b));
    let start = align(&played, &ea, 0.5, 24_000).expect("track a found at volume 0.5");
    for i in (4_800..ea.len()).step_by(7) {
        assert!(
            (played[start + i] - 0.5 * ea[i]).abs() < 3e-4,
            "a frame {i}; dropouts: {dropouts}"
        );
    }
    let b_start = start + ea.len();
    for i in (0..eb.len()).step_by(7) {
        assert!(
            (played[b_start + i] - 0.5 * eb[i]).abs() < 3e-4,
            "b frame {i}, right after a (at {b_start}): b found at {:?}; dropouts: {dropouts}",
            align(&played[start..], &eb, 0.5, 24_000).map(|k| start + k)
        );
    }

    d.result("playlist_remove", json!({ "track_id": b }));
    d.result("play", json!({ "track_id": a }));
    d.notification("playback_ended", |p| p["track_id"] == a && p["reason"] == "finished");
    d.notification("playback_started", |p| p["track_id"] == a);
}

/// A stereo MusicGen (the stereo fixture: 8 codebooks, each channel through EnCodec) plays
/// through ALSA's `file` plugin with its left and right different, each as the engine made it.
#[test]
fn a_stereo_musicgen_track_plays_left_and_right_through_the_alsa_file_plugin() {
    let dir = tempdir();
    let (home, out) = alsa_home(dir.path());
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/musicgen-stereo/model-f16.gguf");
    let model = model.to_str().unwrap();
    let args = [
        "--audio-device",
        "default",
        "--backend",
        "ggml",
        "--model",
        model,
        "--threads",
        "1",
    ];
    let mut d = Daemon::start_with(dir.path(), &args, |cmd| {
        cmd.env("HOME", &home);
    });
    let done = d.generate(json!({ "prompt": "stereo rain", "seed": 5, "duration_sec": 3 }));
    assert_eq!(done["backend"], "ggml");
    let path = PathBuf::from(done["path"].as_str().unwrap());
    assert_eq!(
        hound::WavReader::open(&path).unwrap().spec().channels,
        2,
        "cached as stereo"
    );
    d.result("playback_config", json!({ "loop": false }));
    d.result("volume_set", json!({ "level": 0.5 }));
    d.result("play", json!({ "track_id": done["track_id"] }));
    d.notification("playback_ended", |p| {
        p["track_id"] == done["track_id"] && p["reason"] == "finished"
    });
    d.result("stop", json!({}));

    let played = read_played_channels(&out);
    let [left, right] = at_device_rate_channels(&path);
    let differ = left.iter().zip(&right).filter(|(l, r)| (*l - *r).abs() > 1e-3).count();
    assert!(
        differ > left.len() / 4,
        "left and right differ in {differ} of {} frames",
        left.len()
    );
    let start = align(&played[0], &left, 0.5, 48_000).expect("the left channel found at volume 0.5");
    for (channel, expected) in [(0, &left), (1, &right)] {
        for i in (4_800..expected.len()).step_by(5) {
            let got = played[channel][start + i];
            assert!(
                (got - 0.5 * expected[i]).abs() < 3e-4,
                "channel {channel} frame {i}: {got}"
            );
        }
    }
}

#[test]
fn switching_device_mid_track_continues_from_the_position() {
    let dir = tempdir();
    let (home, out) = alsa_home(dir.path());
    let mut d = Daemon::start_with(dir.path(), &["--audio-device", "none"], |cmd| {
        cmd.env("HOME", &home);
    });
    let done = d.generate(json!({ "prompt": "switch", "seed": 5, "duration_sec": 4 }));
    let id = done["track_id"].as_str().unwrap().to_owned();
    d.result("playback_config", json!({ "loop": false }));
    d.result("volume_set", json!({ "level": 1.0 }));
    d.result("play", json!({ "track_id": id }));
    std::thread::sleep(Duration::from_millis(1500));
    // Measured against the position just before the switch, not the sleep: on a loaded machine
    // the switch lands later than 1.5 s into the track (a fixed 1.2-2.2 s window failed at 2.21).
    let before = position(&mut d);
    assert!(before > 0.5, "mid-track at the switch: {before:.2} s");
    let switched = d.result("audio_device_set", json!({ "device": "default" }));
    assert_eq!(switched["current"], "default");
    d.notification("playback_ended", |p| p["track_id"] == id && p["reason"] == "finished");
    let resumed_at = continued_from(&read_played(&out), Path::new(done["path"].as_str().unwrap()));
    assert!(
        (before - 0.3..before + 0.7).contains(&resumed_at),
        "resumed at {resumed_at:.2} s, the switch came at {before:.2} s"
    );
    assert_eq!(d.result("status", json!({}))["audio_device"], "default");
}

/// Where in the track at `track_path` a recording that holds the rest of it begins (in
/// seconds), checking that it runs to the end with nothing skipped or repeated.
fn continued_from(played: &[f32], track_path: &Path) -> f64 {
    let expected = at_device_rate(track_path);
    // Find where a window of the recording (past its first audible frame and the resume
    // ramp) sits in the track.
    let lead = played.iter().position(|s| s.abs() > 1e-3).expect("something audible");
    let played = &played[lead..];
    let window = &played[4_800..5_000];
    let found = (0..expected.len() - 200)
        .find(|&j| {
            expected[j..j + 200]
                .iter()
                .zip(window)
                .all(|(e, p)| (e - p).abs() < 3e-4)
        })
        .expect("the recording continues the track");
    let tail = &played[4_800..];
    assert!(
        tail.len() >= expected.len() - found,
        "{} < {}",
        tail.len(),
        expected.len() - found
    );
    (found - 4_800) as f64 / 48_000.0
}

#[test]
fn switching_between_two_devices_keeps_the_position() {
    // Two ALSA outputs: cpal lists "default" and, when it opens, "pulse" (here a second
    // file sink). The file sinks are not paced, so the switch happens while paused (the
    // position comes from the none clock).
    let dir = tempdir();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (first, second) = (dir.path().join("first.raw"), dir.path().join("second.raw"));
    let sink = |name: &str, file: &Path| {
        format!(
            "pcm.!{name} {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n}}\n",
            file.display()
        )
    };
    std::fs::write(
        home.join(".asoundrc"),
        sink("default", &first) + &sink("pulse", &second),
    )
    .unwrap();
    let mut d = Daemon::start_with(dir.path(), &["--audio-device", "none"], |cmd| {
        cmd.env("HOME", &home);
    });
    let names: Vec<Value> = d.result("audio_devices", json!({}))["available"]
        .as_array()
        .unwrap()
        .iter()
        .map(|device| device["name"].clone())
        .collect();
    assert!(
        names.contains(&json!("default")) && names.contains(&json!("pulse")),
        "{names:?}"
    );
    let done = d.generate(json!({ "prompt": "two devices", "seed": 3, "duration_sec": 4 }));
    let id = done["track_id"].as_str().unwrap().to_owned();
    d.result("playback_config", json!({ "loop": false }));
    d.result("prefetch_config", json!({ "enabled": false }));
    d.result("volume_set", json!({ "level": 1.0 }));
    d.result("play", json!({ "track_id": id }));
    std::thread::sleep(Duration::from_millis(1500));
    d.result("pause", json!({}));
    std::thread::sleep(Duration::from_millis(300)); // the pause's fade-out has played
    let paused_at = position(&mut d);
    assert!(paused_at > 0.5, "mid-track at the pause: {paused_at:.2} s");
    assert_eq!(
        d.result("audio_device_set", json!({ "device": "default" }))["current"],
        "default"
    );
    assert_eq!(
        d.result("audio_device_set", json!({ "device": "pulse" }))["current"],
        "pulse"
    );
    d.result("resume", json!({}));
    d.notification("playback_ended", |p| p["track_id"] == id && p["reason"] == "finished");
    // Opening a device builds a stream once to prove it works; that probe writes silence only.
    let heard_on_first = std::fs::read(&first)
        .unwrap_or_default()
        .chunks_exact(2)
        .any(|b| i16::from_le_bytes([b[0], b[1]]) != 0);
    assert!(
        !heard_on_first,
        "a device chosen while paused plays nothing until resume"
    );
    let resumed_at = continued_from(&read_played(&second), Path::new(done["path"].as_str().unwrap()));
    // Against the position the pause held, not a window after the sleep (see the test above).
    assert!(
        (paused_at - 0.3..paused_at + 0.3).contains(&resumed_at),
        "resumed at {resumed_at:.2} s, paused at {paused_at:.2} s"
    );
    assert_eq!(d.result("status", json!({}))["audio_device"], "pulse");
}

#[test]
fn a_lost_device_is_reported_and_playback_resumes_when_it_returns() {
    let dir = tempdir();
    let home = dir.path().join("home");
    let sink = dir.path().join("sink");
    std::fs::create_dir_all(&home).unwrap();
    let rc = format!(
        "pcm.!default {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n}}\n",
        sink.join("out.raw").display()
    );
    std::fs::write(home.join(".asoundrc"), rc).unwrap();
    let mut d = Daemon::start_with(dir.path(), &["--audio-device", "none"], |cmd| {
        cmd.env("HOME", &home);
    });
    let done = d.generate(json!({ "prompt": "outage", "seed": 9, "duration_sec": 6 }));
    let id = done["track_id"].as_str().unwrap().to_owned();
    d.result("playback_config", json!({ "loop": false }));
    d.result("prefetch_config", json!({ "enabled": false }));
    d.result("play", json!({ "track_id": id }));
    std::thread::sleep(Duration::from_millis(1000));
    // The device's output is gone (its directory does not exist): writes fail.
    let _ = d.call("audio_device_set", json!({ "device": "default" }));
    let error = d.notification("daemon_error", |p| p["code"] == "AUDIO_DEVICE_ERROR");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("playback resumes when it is back"),
        "{error}"
    );
    // The daemon keeps serving while the device is away.
    assert_eq!(d.result("status", json!({}))["audio_device"], Value::Null);
    d.backlog.retain(|v| v["method"] != "audio_device_restored");
    std::fs::create_dir_all(&sink).unwrap();
    let restored = d.notification("audio_device_restored", |_| true);
    assert_eq!(restored["device"], "default");
    // Playback works again on the returned device.
    d.backlog.retain(|v| v["method"] != "playback_ended");
    d.result("play", json!({ "track_id": id }));
    d.notification("playback_ended", |p| p["track_id"] == id && p["reason"] == "finished");
    let played = read_played(&sink.join("out.raw"));
    assert!(
        played.iter().filter(|s| s.abs() > 0.01).count() > 48_000,
        "the track was played"
    );
}

/// A crossfade moves the playlist on as it starts, and a skip while it runs goes on to the
/// track after the one fading in (it once found nothing queued, and stopped).
#[test]
fn a_skip_during_a_crossfade_goes_on_to_the_next_track() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let (a, b, _, _) = two_tracks(&mut d, 3.0);
    let c = d.generate(json!({ "prompt": "track c", "seed": 3, "duration_sec": 3.0 }))["track_id"].clone();
    d.result("prefetch_config", json!({ "enabled": false }));
    d.result("playback_config", json!({ "loop": false }));
    d.result("crossfade_set", json!({ "duration_sec": 1.0 }));
    for id in [json!(a), json!(b), c.clone()] {
        d.result("playlist_add", json!({ "track_id": id }));
    }
    d.result("play", json!({}));
    d.notification("playback_started", |p| p["track_id"] == a);
    // a fades into b from 2.0 s to 3.0 s: the skip comes in that second (or, on a machine too
    // slow to answer in time, after it), and goes on from b.
    std::thread::sleep(Duration::from_millis(2400));
    let skipped = d.result("skip", json!({}));
    assert_eq!(skipped["state"], "playing", "{skipped}");
    d.notification("playback_ended", |p| p["track_id"] == b && p["reason"] == "skipped");
    d.notification("playback_started", |p| p["track_id"] == c);
    assert_eq!(d.result("playlist_get", json!({}))["current"], c);
}

#[test]
fn the_playlist_loops() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let (a, b, _, _) = two_tracks(&mut d, 2.0);
    d.result("prefetch_config", json!({ "enabled": false }));
    d.result("crossfade_set", json!({ "duration_sec": 0.5 }));
    assert_eq!(
        d.result("status", json!({}))["playback"]["loop"],
        true,
        "looping is the default"
    );
    d.result("playlist_add", json!({ "track_id": a }));
    d.result("playlist_add", json!({ "track_id": b }));
    d.result("play", json!({}));
    d.notification("playback_started", |p| p["track_id"] == a);
    d.notification("playback_started", |p| p["track_id"] == b);
    d.notification("playback_ended", |p| p["track_id"] == b && p["reason"] == "finished");
    d.notification("playback_started", |p| p["track_id"] == a);
    assert_eq!(d.result("status", json!({}))["playback"]["state"], "playing");
}

/// A playlist of one loops into itself; once the playlist lets go of that (the track taken out,
/// or looping turned off), a skip stops rather than playing the track again unannounced (the
/// mixer used to keep it queued: a `playback_ended` came with no `playback_started`).
#[test]
fn a_skip_past_what_the_playlist_no_longer_holds_stops() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let a = d.generate(json!({ "prompt": "track a", "seed": 1, "duration_sec": 4.0 }))["track_id"].clone();
    d.result("prefetch_config", json!({ "enabled": false }));
    for let_go in [
        ("playlist_remove", json!({ "track_id": a })),
        ("playback_config", json!({ "loop": false })),
    ] {
        d.result("playback_config", json!({ "loop": true }));
        d.result("play", json!({ "track_id": a }));
        d.notification("playback_started", |p| p["track_id"] == a);
        d.result(let_go.0, let_go.1);
        let skipped = d.result("skip", json!({}));
        assert_eq!(skipped["state"], "stopped", "after {}: {skipped}", let_go.0);
        d.notification("playback_ended", |p| p["track_id"] == a && p["reason"] == "skipped");
        std::thread::sleep(Duration::from_millis(300));
        d.result("status", json!({})); // reads what came meanwhile into the backlog
        assert!(
            !d.backlog.iter().any(|v| v["method"] == "playback_started"),
            "after {}: {:?}",
            let_go.0,
            d.backlog
        );
    }
}

#[test]
fn a_track_that_cannot_be_loaded_is_reported_and_skipped() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let (a, b, _, b_path) = two_tracks(&mut d, 2.0);
    let c = d.generate(json!({ "prompt": "track c", "seed": 3, "duration_sec": 2.0 }))["track_id"]
        .as_str()
        .unwrap()
        .to_owned();
    d.result("prefetch_config", json!({ "enabled": false }));
    d.result("playback_config", json!({ "loop": false }));
    std::fs::write(&b_path, b"RIFF").unwrap(); // damaged in the cache behind the daemon's back
    for id in [&a, &b, &c] {
        d.result("playlist_add", json!({ "track_id": id }));
    }
    d.result("play", json!({ "track_id": a }));
    let ended = d.notification("playback_ended", |p| p["track_id"] == b.as_str());
    assert_eq!(ended["reason"], "error");
    let message = ended["message"].as_str().unwrap();
    assert!(message.contains(b_path.to_str().unwrap()), "{message}");
    assert_eq!(d.result("playlist_get", json!({}))["tracks"], json!([a, c]));
    d.notification("playback_started", |p| p["track_id"] == c.as_str());
}

/// Frames received in `window` (other lines stay in the backlog).
fn frames_within(d: &mut Daemon, window: Duration) -> Vec<Value> {
    let deadline = Instant::now() + window;
    let mut frames = Vec::new();
    while let Some(v) = d.read(deadline.saturating_duration_since(Instant::now())) {
        if v["method"] == "visualizer_frame" {
            frames.push(v["params"].clone());
        } else {
            d.backlog.push(v);
        }
    }
    frames
}

#[test]
fn visualizer_frames_follow_playback_and_stop_when_paused_or_unsubscribed() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let (a, _, _, _) = two_tracks(&mut d, 4.0);
    let subscribed = d.result("visualizer_subscribe", json!({ "fps": 20 }));
    assert_eq!(subscribed["fps"], 20);
    assert_eq!(subscribed["bands_hz"].as_array().unwrap().len(), 10);
    assert!(
        frames_within(&mut d, Duration::from_millis(300)).is_empty(),
        "stopped: no frames"
    );

    d.result("play", json!({ "track_id": a }));
    let frames = frames_within(&mut d, Duration::from_millis(1000));
    assert!(
        // At most the rate asked for; the lower bound leaves room for a loaded machine.
        (8..=22).contains(&frames.len()),
        "{} frames in 1 s at 20 fps",
        frames.len()
    );
    for f in &frames {
        let bands = f["bands"].as_array().unwrap();
        assert_eq!(bands.len(), 10);
        assert!(bands.iter().all(|b| (0.0..=1.0).contains(&b.as_f64().unwrap())));
    }
    let positions: Vec<f64> = frames.iter().map(|f| f["position_sec"].as_f64().unwrap()).collect();
    assert!(positions.windows(2).all(|p| p[1] >= p[0]), "{positions:?}");
    let loudest = frames
        .iter()
        .flat_map(|f| f["bands"].as_array().unwrap().iter().map(|b| b.as_f64().unwrap()))
        .fold(0.0, f64::max);
    assert!(loudest > 0.3, "music lights the bands: {loudest}");

    d.result("pause", json!({}));
    frames_within(&mut d, Duration::from_millis(150));
    assert!(
        frames_within(&mut d, Duration::from_millis(400)).is_empty(),
        "paused: no frames"
    );
    d.result("resume", json!({}));
    assert!(!frames_within(&mut d, Duration::from_millis(400)).is_empty(), "resumed");
    assert_eq!(d.result("visualizer_unsubscribe", json!({}))["unsubscribed"], true);
    frames_within(&mut d, Duration::from_millis(100));
    assert!(
        frames_within(&mut d, Duration::from_millis(400)).is_empty(),
        "unsubscribed: no frames"
    );
    assert_eq!(d.result("visualizer_unsubscribe", json!({}))["unsubscribed"], false);
    let err = d.error("visualizer_subscribe", json!({ "fps": 31 }));
    assert!(
        err["message"].as_str().unwrap().contains("fps must be 1 to 30"),
        "{err}"
    );
}
