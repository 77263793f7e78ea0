//! A long radio run on the tiny fixture model (or the procedural endless score): the daemon's
//! memory over time (goal: ≤ 5 MB of growth after the first minute), dropouts, what a listener
//! hears (runs below -60 dBFS, from the `none` output's capture), and the CPU time of the
//! playback side against the generator's.
//!
//!   [LOFI_BENCH_RADIO_SEC=600] [LOFI_BENCH_RADIO_STEP_DELAY_MS=0] [LOFI_BENCH_RADIO_BACKEND=ggml|procedural]
//!   cargo bench -p lofi-daemon --bench radio
//!
//! A step delay of 30 ms makes the fixture slower than real time (~0.4x, like musicgen-small on
//! two cores), so the run is bridged.
#[path = "listener.rs"]
mod listener;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds by thread name.
fn thread_cpu(pid: u32) -> Vec<(String, f64)> {
    let ticks = 100.0; // USER_HZ
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let cpu = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
            + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        out.push((name, cpu / ticks));
    }
    out
}

fn main() {
    let seconds = env_u64("LOFI_BENCH_RADIO_SEC", 600);
    let delay = env_u64("LOFI_BENCH_RADIO_STEP_DELAY_MS", 0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = root.join("tests/fixtures/musicgen-tiny/model-f16.gguf");
    let backend = std::env::var("LOFI_BENCH_RADIO_BACKEND").unwrap_or_else(|_| "ggml".into());
    let dir = tempfile::tempdir().unwrap();
    let (mut command, capture) = listener::listened_daemon(dir.path());
    let mut child = command
        .args(["--backend", &backend, "--threads", "1", "--model"])
        .arg(&model)
        .env("LOFI_TEST_STEP_DELAY_MS", delay.to_string())
        .spawn()
        .expect("run lofi-daemon");
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (segments, bridges, dropouts) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    {
        let (segments, bridges, dropouts) = (segments.clone(), bridges.clone(), dropouts.clone());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if v["method"] == "radio_segment" {
                    let counter = if v["params"]["bridge"] == true {
                        &bridges
                    } else {
                        &segments
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(d) = v["result"]["playback"]["dropouts"].as_u64() {
                    dropouts.store(d, Ordering::Relaxed);
                }
            }
        });
    }
    let send = |stdin: &mut std::process::ChildStdin, id: u64, method: &str| {
        let line = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\",\"params\":{{}}}}\n");
        stdin.write_all(line.as_bytes()).unwrap();
    };
    send(&mut stdin, 1, "radio_start");
    let started = Instant::now();
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let mut id = 2;
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(10));
        send(&mut stdin, id, "status");
        id += 1;
        samples.push((started.elapsed().as_secs_f64(), rss_mb(pid)));
    }
    std::thread::sleep(Duration::from_millis(200));
    let cpu = thread_cpu(pid);
    send(&mut stdin, id, "radio_stop");
    drop(stdin);
    let _ = child.wait();

    let heard = listener::read_capture(&capture);
    let (longest, gaps) = listener::quiet_runs(&heard);
    let after_minute = samples.iter().find(|(t, _)| *t >= 60.0).map_or(f64::NAN, |s| s.1);
    let end = samples.last().map_or(f64::NAN, |s| s.1);
    let peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    let sum = |names: &[&str]| -> f64 {
        cpu.iter()
            .filter(|(n, _)| names.iter().any(|p| n.starts_with(p)))
            .map(|(_, c)| c)
            .sum()
    };
    let total: f64 = cpu.iter().map(|(_, c)| c).sum();
    println!(
        "radio ({backend}) for {seconds} s (decoder step delay {delay} ms): {} segments, {} bridges",
        segments.load(Ordering::Relaxed),
        bridges.load(Ordering::Relaxed)
    );
    println!(
        "  RSS {after_minute:.1} MB at 1 min, {end:.1} MB at the end (growth {:+.1} MB), peak {peak:.1} MB",
        end - after_minute
    );
    println!(
        "  heard {:.0} s: dropouts {}, runs of ≥ 50 ms below -60 dBFS {gaps}, longest {:.1} ms",
        heard.len() as f64 / 48_000.0,
        dropouts.load(Ordering::Relaxed),
        longest as f64 / 48.0
    );
    println!(
        "  CPU: playback (null-clock, pump) {:.1} s = {:.2} % of one core; radio (generator, bridges) {:.1} s; all {total:.1} s",
        sum(&["null-clock", "pump"]),
        sum(&["null-clock", "pump"]) * 100.0 / seconds as f64,
        sum(&["radio"])
    );
}
