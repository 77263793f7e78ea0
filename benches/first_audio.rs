//! Time to the first AI audio heard for a track asked to play (`generate {play: true}`), streamed
//! as it generates, against waiting for the complete track (what the daemon did before it
//! streamed: the moment `generation_complete` arrives, in the same run), the generation speed as
//! a multiple of real time, and what the listener heard (dropouts, runs below -60 dBFS from the
//! `none` output's real-time capture, from the first sound to the AI track's end).
//!
//!   [LOFI_BENCH_MODEL=model.gguf] [LOFI_BENCH_THREADS=2] [LOFI_BENCH_SECONDS=30]
//!   cargo bench -p lofi-daemon --bench first_audio
//!
//! A relative LOFI_BENCH_MODEL is from the workspace root; the model defaults to the tiny test fixture (far faster than real time);
//! benches/musicgen.sh builds musicgen-small-shaped ones in target/bench-musicgen.
#[path = "listener.rs"]
mod listener;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Instant;

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // A relative path is from the workspace root (cargo runs benches in the package's directory).
    let model = std::env::var_os("LOFI_BENCH_MODEL")
        .map(|m| std::env::current_dir().unwrap().join("..").join(m))
        .unwrap_or_else(|| root.join("tests/fixtures/musicgen-tiny/model-f16.gguf"));
    let threads = std::env::var("LOFI_BENCH_THREADS").unwrap_or_else(|_| "2".into());
    let seconds: f64 = std::env::var("LOFI_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30.0);
    let dir = tempfile::tempdir().unwrap();
    let (mut command, capture) = listener::listened_daemon(dir.path());
    let mut child = command
        .args(["--backend", "ggml", "--threads", &threads, "--model"])
        .arg(&model)
        .spawn()
        .expect("run lofi-daemon");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let mut send = |id: u64, method: &str, params: serde_json::Value| {
        let line = serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    };
    send(1, "playback_config", serde_json::json!({ "loop": false }));
    let asked = Instant::now();
    send(
        2,
        "generate",
        serde_json::json!({ "prompt": "lofi hip hop, rain", "seed": 1, "duration_sec": seconds, "play": true }),
    );
    let (mut id, mut first_audio, mut complete, mut dropouts) = (None::<String>, None, None, None);
    let mut backend = String::new();
    for line in lines.by_ref() {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let params = &v["params"];
        match (v["id"].as_u64(), v["method"].as_str()) {
            (Some(2), _) => id = v["result"]["track_id"].as_str().map(str::to_owned),
            (Some(3), _) => {
                dropouts = v["result"]["playback"]["dropouts"].as_u64();
                break;
            }
            (_, Some("playback_started")) if params["track_id"].as_str() == id.as_deref() => {
                first_audio = Some(asked.elapsed().as_secs_f64());
            }
            (_, Some("generation_complete")) if params["track_id"].as_str() == id.as_deref() => {
                complete = Some(asked.elapsed().as_secs_f64());
                backend = params["backend"].as_str().unwrap_or_default().to_owned();
            }
            (_, Some("daemon_warning")) => eprintln!("daemon: {}", params["message"]),
            (_, Some("playback_ended")) if params["track_id"].as_str() == id.as_deref() => {
                send(3, "status", serde_json::json!({}));
            }
            _ => {}
        }
    }
    let _ = child.kill();
    let _ = child.wait();

    let heard = listener::read_capture(&capture);
    let (longest, _) = listener::quiet_runs(&heard);
    let (first_audio, complete) = (first_audio.unwrap_or(f64::NAN), complete.unwrap_or(f64::NAN));
    println!(
        "first AI audio for a {seconds} s track, {} ({backend}) on {} thread(s), {}:",
        model.file_name().unwrap_or_default().to_string_lossy(),
        threads,
        cpu_model()
    );
    println!(
        "  streamed {first_audio:.1} s; waiting for the complete track {complete:.1} s ({:.2}× sooner); generation {:.2}× real time",
        complete / first_audio,
        seconds / complete
    );
    println!(
        "  heard {:.1} s: dropouts {}, longest run below -60 dBFS {:.1} ms",
        heard.len() as f64 / 48_000.0,
        dropouts.map_or("?".into(), |d| d.to_string()),
        longest as f64 / 48.0
    );
}
