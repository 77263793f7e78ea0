//! Playback figures: time from a cold daemon's first request to the first audible sample
//! written to an ALSA device (goal <= 300 ms), against the procedural render alone; and
//! CPU used while playing on the `none` clock (goal <= 1 % of a core) against idle.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use lofi_daemon::backend::procedural::ProceduralBackend;
use lofi_daemon::backend::GenerationRequest;
use lofi_daemon::playback::spectrum::{Spectrum, WINDOW};

fn spawn(dir: &std::path::Path, home: &std::path::Path, device: &str, tag: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lofi-daemon"))
        .args(["--audio-device", device, "--idle-timeout", "0"])
        .arg("--cache-dir")
        .arg(dir.join(format!("cache-{tag}")))
        .arg("--pid-file")
        .arg(dir.join(format!("{tag}.pid")))
        .env("HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn send(child: &mut Child, line: &str) {
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(line.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
}

/// CPU seconds (user + system) the process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn first_audible(path: &std::path::Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.chunks_exact(2).any(|s| i16::from_le_bytes([s[0], s[1]]).abs() > 30))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = dir.path().join("out.raw");
    let rc = format!(
        "pcm.!default {{\n type file\n slave.pcm \"null\"\n file \"{}\"\n format \"raw\"\n}}\n",
        out.display()
    );
    std::fs::write(home.join(".asoundrc"), rc).unwrap();

    let mut times = Vec::new();
    for run in 0..5 {
        let _ = std::fs::remove_file(&out);
        let start = Instant::now();
        let mut child = spawn(dir.path(), &home, "default", &format!("cold{run}"));
        send(
            &mut child,
            r#"{"jsonrpc":"2.0","method":"generate","params":{"duration_sec":30,"play":true},"id":1}"#,
        );
        while !first_audible(&out) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        times.push(start.elapsed());
        child.kill().ok();
        child.wait().ok();
    }
    times.sort();
    let cold = times[times.len() / 2];
    let backend = ProceduralBackend::default();
    let request = GenerationRequest {
        prompt: "lofi".into(),
        seed: 1,
        duration_sec: 30.0,
    };
    let render_start = Instant::now();
    backend.render(&request, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    let render = render_start.elapsed();
    println!(
        "cold daemon, generate+play 30 s, to first audible sample on ALSA: median {:.0} ms (goal 300 ms); the 30 s procedural render alone: {:.0} ms ({:.0} % of it)",
        cold.as_secs_f64() * 1e3,
        render.as_secs_f64() * 1e3,
        render.as_secs_f64() / cold.as_secs_f64() * 100.0
    );

    // CPU while playing on the none clock, against the same daemon idle.
    let mut child = spawn(dir.path(), &home, "none", "cpu");
    let pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    send(&mut child, r#"{"jsonrpc":"2.0","method":"status","id":1}"#);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let window = Duration::from_secs(5);
    let idle_start = cpu_seconds(pid);
    std::thread::sleep(window);
    let idle = (cpu_seconds(pid) - idle_start) / window.as_secs_f64();
    send(
        &mut child,
        r#"{"jsonrpc":"2.0","method":"generate","params":{"duration_sec":60,"play":true},"id":2}"#,
    );
    std::thread::sleep(Duration::from_secs(2)); // generated and started
    let busy_start = cpu_seconds(pid);
    std::thread::sleep(window);
    let playing = (cpu_seconds(pid) - busy_start) / window.as_secs_f64();
    println!(
        "CPU while playing (none clock, 48 kHz stereo): {:.2} % of a core (goal 1 %); idle: {:.2} %",
        playing * 100.0,
        idle * 100.0
    );

    // The visualizer at 30 fps on top of the same playback, and its analysis alone.
    send(
        &mut child,
        r#"{"jsonrpc":"2.0","method":"visualizer_subscribe","params":{"fps":30},"id":4}"#,
    );
    std::thread::sleep(Duration::from_millis(200));
    let watched_start = cpu_seconds(pid);
    std::thread::sleep(window);
    let watched = (cpu_seconds(pid) - watched_start) / window.as_secs_f64();
    send(
        &mut child,
        r#"{"jsonrpc":"2.0","method":"visualizer_unsubscribe","id":5}"#,
    );
    let mut spectrum = Spectrum::new(48_000);
    let samples: Vec<f32> = (0..WINDOW).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    let frames = 3_000;
    let analysis_start = Instant::now();
    for _ in 0..frames {
        std::hint::black_box(spectrum.levels(std::hint::black_box(&samples)));
    }
    let per_frame = analysis_start.elapsed().as_secs_f64() / frames as f64;
    println!(
        "visualizer at 30 fps: {:.2} % of a core on top of playback ({:.2} % with it, {:.2} % without; goal 0.5 %); the analysis alone {:.1} us a frame = {:.3} % of a core at 30 fps",
        (watched - playing) * 100.0,
        watched * 100.0,
        playing * 100.0,
        per_frame * 1e6,
        per_frame * 30.0 * 100.0
    );

    // Soak: keep playing (looping playlist, prefetch adding tracks) for LOFI_SOAK_SECS
    // (default 60; the closing figure used 600) and count dropouts.
    let soak: u64 = std::env::var("LOFI_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    std::thread::sleep(Duration::from_secs(soak));
    send(&mut child, r#"{"jsonrpc":"2.0","method":"status","id":3}"#);
    let status = loop {
        line.clear();
        stdout.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["id"] == 3 {
            break v;
        }
    };
    println!(
        "soak: {soak} s of playback on the none clock: {} dropouts (goal 0); state {}, playlist {} tracks",
        status["result"]["playback"]["dropouts"],
        status["result"]["playback"]["state"],
        status["result"]["playlist_length"]
    );
    child.kill().ok();
    child.wait().ok();
}
