//! The `ggml` backend behind JSON-RPC: the fixture model generates real tracks with token
//! progress; a damaged model is reported and the procedural backend takes over.
mod common;

use std::path::{Path, PathBuf};

use common::{quantized_fixture, tempdir, Daemon};
use lofi_convert::FileType;
use serde_json::json;

/// Tests run side by side on few cores: one compute thread per daemon, because GGML's
/// spinning barriers slow down by orders of magnitude when threads outnumber cores.
const THREADS: &str = "1";

fn fixture_model(dir: &Path) -> PathBuf {
    quantized_fixture(dir, FileType::Q8_0)
}

/// A headless daemon (the test harness's default device is `none`) on the ggml backend.
fn start_with(dir: &Path, model: &Path) -> Daemon {
    let model = model.to_str().unwrap();
    Daemon::start(dir, &["--backend", "ggml", "--model", model, "--threads", THREADS])
}

#[test]
fn generates_through_json_rpc_with_token_progress() {
    let dir = tempdir();
    let model = fixture_model(dir.path());
    let mut d = start_with(dir.path(), &model);
    let status = d.result("status", json!({}));
    assert_eq!(status["model"]["backend"], "ggml");
    assert_eq!(status["model"]["quantization"], "Q8_0");
    assert_eq!(status["model"]["device"], "cpu");

    let done = d.generate(json!({"prompt": "lofi hip hop, rainy night", "duration_sec": 3, "seed": 7}));
    assert_eq!(done["backend"], "ggml");
    assert_eq!(done["tokens_actual"], 153, "3 s x 50 frames + 3 delay steps");
    let progress = d
        .backlog
        .iter()
        .find(|v| v["method"] == "generation_progress")
        .expect("progress notifications");
    assert_eq!(progress["params"]["tokens_estimated"], 153);
    let wav = hound::WavReader::open(done["path"].as_str().unwrap()).unwrap();
    assert_eq!(wav.spec().sample_rate, 32_000);
    assert_eq!(wav.len(), 3 * 32_000);

    // Same prompt and seed: the cached track; another seed: another track.
    let again = d.generate(json!({"prompt": "lofi hip hop, rainy night", "duration_sec": 3, "seed": 7}));
    assert_eq!(again["track_id"], done["track_id"]);
    assert_eq!(again["cached"], true);
}

#[test]
fn a_track_longer_than_the_context_continues_window_by_window() {
    // The fixture's decoder holds 508 frames (~10 s): 15 s is a window of 508 frames and one
    // more of 242 that continues the last 169.
    let dir = tempdir();
    let model = fixture_model(dir.path());
    let mut d = start_with(dir.path(), &model);
    let done = d.generate(json!({"prompt": "long rainy night", "duration_sec": 15, "seed": 3}));
    assert_eq!(done["backend"], "ggml");
    assert_eq!(done["tokens_actual"], (508 + 3) + (169 + 242 + 3));
    let wav = hound::WavReader::open(done["path"].as_str().unwrap()).unwrap();
    assert_eq!(wav.len(), 15 * 32_000);
    let last_progress = d
        .backlog
        .iter()
        .rev()
        .find(|v| v["method"] == "generation_progress")
        .expect("progress notifications");
    assert_eq!(last_progress["params"]["tokens_estimated"], 925);
}

#[test]
fn a_damaged_model_is_reported_and_procedural_plays_instead() {
    let dir = tempdir();
    let model = fixture_model(dir.path());
    let bytes = std::fs::read(&model).unwrap();
    let damaged = dir.path().join("damaged.gguf");
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    let mut d = Daemon::start(dir.path(), &["--backend", "ggml", "--model", damaged.to_str().unwrap()]);
    let warning = d.notification("daemon_warning", |_| true);
    assert_eq!(warning["code"], "MODEL_LOAD_FAILED");
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.contains("damaged.gguf") && message.contains("truncated"),
        "{message}"
    );
    assert!(message.ends_with("using the procedural backend"), "{message}");
    assert_eq!(d.result("status", json!({}))["model"]["backend"], "procedural");
    let done = d.generate(json!({"prompt": "still works", "duration_sec": 2, "seed": 1}));
    assert_eq!(done["backend"], "procedural");
}

#[test]
fn a_procedural_stand_in_plays_at_once_and_the_ai_track_crossfades_in() {
    let dir = tempdir();
    let model = fixture_model(dir.path());
    let mut d = start_with(dir.path(), &model);
    d.result("crossfade_set", json!({"duration_sec": 0.5}));
    let ack = d.result(
        "generate",
        json!({"prompt": "late night", "duration_sec": 4, "seed": 5, "play": true}),
    );
    let ai = ack["track_id"].as_str().unwrap().to_owned();
    let first = d.notification("playback_started", |_| true);
    let stand_in = first["track_id"].as_str().unwrap().to_owned();
    assert_ne!(stand_in, ai, "the first sound is the stand-in, not the AI track");
    let stand_in_done = d
        .backlog
        .iter()
        .find(|v| v["method"] == "generation_complete" && v["params"]["track_id"] == stand_in.as_str())
        .expect("the stand-in was generated")
        .clone();
    assert_eq!(stand_in_done["params"]["backend"], "procedural");
    assert_eq!(stand_in_done["params"]["prompt"], "late night");

    let done = d.notification("generation_complete", |p| p["track_id"] == ai.as_str());
    assert_eq!(done["backend"], "ggml");
    d.notification("playback_started", |p| p["track_id"] == ai.as_str());
    // The stand-in loops until the AI track comes (each time round "finished": on a slow host
    // such as an emulated one, where the AI track takes longer than the stand-in plays).
    let ended = d.notification("playback_ended", |p| {
        p["track_id"] == stand_in.as_str() && p["reason"] != "finished"
    });
    assert_eq!(ended["reason"], "skipped", "the stand-in gives way with a crossfade");

    // Something already playing: no stand-in for the next request.
    let ack = d.result(
        "generate",
        json!({"prompt": "second", "duration_sec": 2, "seed": 6, "play": true}),
    );
    let next = ack["track_id"].as_str().unwrap().to_owned();
    d.notification("playback_started", |p| p["track_id"] == next.as_str());
    let stand_ins = d
        .backlog
        .iter()
        .filter(|v| v["method"] == "generation_complete" && v["params"]["backend"] == "procedural")
        .count();
    assert_eq!(stand_ins, 1);
}

/// The ggml backend on the fixture, its model handed back after one second unused.
fn start_keeping_for_a_second(dir: &Path, model: &Path) -> Daemon {
    let model = model.to_str().unwrap();
    Daemon::start(
        dir,
        &[
            "--backend",
            "ggml",
            "--model",
            model,
            "--threads",
            THREADS,
            "--keep-model",
            "1",
        ],
    )
}

fn model_loaded(d: &mut Daemon) -> bool {
    d.result("status", json!({}))["model"]["loaded"]
        .as_bool()
        .expect("status.model.loaded")
}

/// An unused model goes back after `--keep-model` and the next generation loads it again: the
/// same track, bit for bit, as before it went.
#[test]
fn an_unused_model_is_handed_back_and_loaded_again_on_use() {
    let dir = tempdir();
    let model = fixture_model(dir.path());
    let mut d = start_keeping_for_a_second(dir.path(), &model);
    let request = json!({"prompt": "rain on the window", "duration_sec": 2, "seed": 11});
    let first = d.generate(request.clone());
    let first_bytes = std::fs::read(first["path"].as_str().unwrap()).unwrap();
    common::wait_for(|| !model_loaded(&mut d));

    d.result("cache_delete", json!({"track_id": first["track_id"]}));
    let again = d.generate(request);
    assert_eq!(again["track_id"], first["track_id"]);
    assert_eq!(again["backend"], "ggml");
    assert_ne!(again["cached"], true, "generated again, not read from the cache");
    assert_eq!(std::fs::read(again["path"].as_str().unwrap()).unwrap(), first_bytes);
    assert!(model_loaded(&mut d), "loaded while it was used");
}

/// A model file written over in place (`cp` onto it) while its model is loaded: the model read
/// weights from the file's mapping, so the next generation read the new bytes — and a shorter
/// file killed the daemon (SIGBUS). Now the next generation loads the file again: junk fails in
/// one sentence, the daemon lives, and the same model copied back in place generates again.
#[test]
fn a_model_file_written_over_in_place_while_loaded_is_loaded_again() {
    let dir = tempdir();
    let model = fixture_model(dir.path());
    let original = std::fs::read(&model).unwrap();
    let mut d = start_with(dir.path(), &model);
    let request = json!({"prompt": "first", "duration_sec": 1, "seed": 1});
    let first = d.generate(request.clone());
    assert!(model_loaded(&mut d));

    std::fs::write(&model, b"not a model").unwrap(); // truncates and writes: the same inode
    let ack = d.result("generate", json!({"prompt": "second", "duration_sec": 1, "seed": 2}));
    let failed = d.notification("generation_error", |p| p["track_id"] == ack["track_id"]);
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.starts_with("cannot load model ") && message.contains("not a valid GGUF file"),
        "{message}"
    );
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon lives");

    std::fs::write(&model, &original).unwrap();
    d.result("cache_delete", json!({"track_id": first["track_id"]}));
    let again = d.generate(request);
    assert_eq!(again["backend"], "ggml");
    assert_eq!(again["model_version"], first["model_version"]);
    assert!(model_loaded(&mut d));
}

/// Cut shorter while a generation reads it (written over in place mid-track), the model file
/// fails the track in one sentence, not the daemon: nothing is cached, and once the file is back
/// the next generation loads it again and makes the track.
#[test]
fn a_model_file_cut_shorter_during_a_generation_fails_the_track_not_the_daemon() {
    let dir = tempdir();
    let model = fixture_model(dir.path());
    let original = std::fs::read(&model).unwrap();
    // Each decoder step 20 ms slower: 2 s of audio (100 steps) take over 2 s.
    let mut d = common::fixture_daemon(dir.path(), 20, |_| {});
    let request = json!({"prompt": "rain", "duration_sec": 2, "seed": 3});
    let ack = d.result("generate", request.clone());
    d.notification("generation_progress", |p| p["track_id"] == ack["track_id"]);
    std::fs::write(&model, b"GGUF").unwrap();
    let failed = d.notification("generation_error", |p| p["track_id"] == ack["track_id"]);
    // The next step's token embeddings (read from the file) come up short, or the mapped weights
    // read next (musicgen/tests/mapping.rs) were lost: either way the file is named.
    let message = failed["message"].as_str().unwrap();
    let said = [
        "the file is shorter than when it was loaded",
        "was written over while in use",
    ];
    assert!(
        said.iter().any(|s| message.contains(s)) && message.contains(model.to_str().unwrap()),
        "{message}"
    );
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon lives");
    assert_eq!(d.cached_ids(), Vec::<String>::new());

    std::fs::write(&model, &original).unwrap();
    let done = d.generate(request);
    assert_eq!(done["backend"], "ggml");
}

/// A model file replaced while its model was handed back is not loaded under the old model's
/// version (the cache keys tracks by it): the generation fails in one sentence.
#[test]
fn a_model_file_changed_while_handed_back_is_refused() {
    let dir = tempdir();
    let model = fixture_model(dir.path());
    let mut d = start_keeping_for_a_second(dir.path(), &model);
    d.generate(json!({"prompt": "first", "duration_sec": 1, "seed": 1}));
    common::wait_for(|| !model_loaded(&mut d));

    let other = quantized_fixture(dir.path(), FileType::Q4KM);
    let replacement = dir.path().join("replacement.gguf");
    std::fs::copy(&other, &replacement).unwrap();
    std::fs::rename(&replacement, &model).unwrap();
    let ack = d.result("generate", json!({"prompt": "second", "duration_sec": 1, "seed": 2}));
    let failed = d.notification("generation_error", |p| p["track_id"] == ack["track_id"]);
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("changed since the daemon loaded it") && message.contains("restart the daemon"),
        "{message}"
    );
}
