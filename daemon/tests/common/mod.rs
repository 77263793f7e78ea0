//! Test harness: the real `lofi-daemon` binary driven over pipes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a test waits for a reply, a notification or a condition: 30 s, times
/// LOFI_TEST_TIME_SCALE where a slower daemon is driven (one under emulation: scripts/test-aarch64.sh).
pub fn timeout() -> Duration {
    let scale = std::env::var("LOFI_TEST_TIME_SCALE").map_or(1.0, |s| {
        s.parse::<f64>()
            .ok()
            .filter(|x| *x >= 1.0)
            .unwrap_or_else(|| panic!("LOFI_TEST_TIME_SCALE is a factor of at least 1, not {s:?}"))
    });
    Duration::from_secs(30).mul_f64(scale)
}

/// The daemon the tests drive: this build's, or the command line in LOFI_TEST_DAEMON (another
/// build of it, e.g. a 64-bit ARM one under qemu: scripts/test-aarch64.sh).
pub fn daemon_command() -> Command {
    let Ok(line) = std::env::var("LOFI_TEST_DAEMON") else {
        return Command::new(env!("CARGO_BIN_EXE_lofi-daemon"));
    };
    let mut words = line.split_whitespace();
    let mut command = Command::new(words.next().expect("LOFI_TEST_DAEMON names a command"));
    command.args(words);
    command
}

pub struct Daemon {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Notifications and responses read but not yet consumed.
    pub backlog: Vec<Value>,
    next_id: u64,
    pub cache_dir: PathBuf,
    pub pid_file: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_with(dir, extra, |_| {})
    }

    pub fn start_with(dir: &Path, extra: &[&str], configure: impl FnOnce(&mut Command)) -> Daemon {
        let cache_dir = dir.join("cache");
        let pid_file = dir.join(format!("daemon-{}.pid", rand_suffix()));
        let mut cmd = daemon_command();
        // Headless by default; tests of real audio output pass their own device.
        if !extra.contains(&"--audio-device") {
            cmd.args(["--audio-device", "none"]);
        }
        cmd.arg("--cache-dir")
            .arg(&cache_dir)
            .arg("--pid-file")
            .arg(&pid_file)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        configure(&mut cmd);
        let mut child = cmd.spawn().expect("spawn lofi-daemon");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon {
            stdin: child.stdin.take(),
            child,
            lines,
            backlog: Vec::new(),
            next_id: 1,
            cache_dir,
            pid_file,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Next line from stdout as the daemon wrote it.
    pub fn raw_line(&mut self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Next line from stdout as JSON (every line must be valid JSON-RPC).
    pub fn read(&mut self, timeout: Duration) -> Option<Value> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                let value: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad output line {line:?}: {e}"));
                assert_eq!(value["jsonrpc"], "2.0", "{line}");
                Some(value)
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Sends a request and returns its whole response (result or error object).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({ "jsonrpc": "2.0", "method": method, "params": params, "id": id });
        self.send_raw(format!("{line}\n").as_bytes());
        self.response(json!(id))
    }

    /// Waits for the response with this id, keeping everything else in the backlog.
    pub fn response(&mut self, id: Value) -> Value {
        if let Some(i) = self
            .backlog
            .iter()
            .position(|v| v.get("id") == Some(&id) && v.get("method").is_none())
        {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + timeout();
        while let Some(v) = self.read(deadline.saturating_duration_since(Instant::now())) {
            if v.get("id") == Some(&id) && v.get("method").is_none() {
                return v;
            }
            self.backlog.push(v);
        }
        panic!("no response for id {id}; backlog: {:?}", self.backlog);
    }

    pub fn result(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    pub fn error(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r.get("result").is_none(), "{method} should fail: {r}");
        r["error"].clone()
    }

    /// Waits for a notification matching `method` and `pred`.
    pub fn notification(&mut self, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self
            .backlog
            .iter()
            .position(|v| v["method"] == method && pred(&v["params"]))
        {
            return self.backlog.remove(i)["params"].clone();
        }
        let deadline = Instant::now() + timeout();
        while let Some(v) = self.read(deadline.saturating_duration_since(Instant::now())) {
            if v["method"] == method && pred(&v["params"]) {
                return v["params"].clone();
            }
            self.backlog.push(v);
        }
        panic!("no {method} notification; backlog: {:?}", self.backlog);
    }

    /// Generates and waits for completion; returns the `generation_complete` params.
    pub fn generate(&mut self, params: Value) -> Value {
        let ack = self.result("generate", params);
        let id = ack["track_id"].as_str().unwrap().to_owned();
        self.notification("generation_complete", |p| p["track_id"] == id)
    }

    /// The ids of the tracks in the cache, sorted.
    pub fn cached_ids(&mut self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .result("cache_list", json!({}))
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["track_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }

    /// Waits for the process to exit; returns how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.child.try_wait().unwrap().is_some() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `done` every 10 ms until it holds (panics after [`timeout`]).
pub fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout();
    while !done() {
        assert!(Instant::now() < deadline, "condition not met in {:?}", timeout());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Whether `lame` runs here; a test of MP3s skips without it (saying so), except in a run that
/// installed it (LOFI_REQUIRE_LAME, set by scripts/test.sh), where its absence fails.
pub fn lame_or_skip() -> bool {
    let runs = Command::new("lame")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        assert!(
            std::env::var_os("LOFI_REQUIRE_LAME").is_none(),
            "lame is required in this run"
        );
        eprintln!("skipping: lame is not installed");
    }
    runs
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[path = "../../../musicgen/tests/fixture/mod.rs"]
mod fixture;
// The benches' capture reader: one definition of the capture's format.
#[path = "../../../benches/listener.rs"]
mod listener;
#[allow(unused_imports)] // each test file uses some
pub use fixture::{fixture_dir, fixture_model, quantized_fixture};
#[allow(unused_imports)] // each test file uses a part of the harness
pub use listener::read_capture;

/// Every sidecar in the cache has its audio next to it, and nothing half-written is left.
pub fn assert_cache_consistent(cache: &Path) {
    for entry in std::fs::read_dir(cache).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(!name.starts_with(".tmp"), "left behind: {name}");
        if name.ends_with(".json") {
            assert!(
                path.with_extension("wav").exists() || path.with_extension("mp3").exists(),
                "{name} has no audio"
            );
        }
    }
}

/// Asserts that a listener heard (`played`: the capture) no run over 50 ms below -60 dBFS from
/// the first sound to the last, and no sample-to-sample step larger than the largest in `tracks`
/// (the tracks' samples, as the device got them).
pub fn assert_heard_without_gap_or_jump(played: &[f32], tracks: impl IntoIterator<Item = Vec<f32>>) {
    let start = played.iter().position(|s| s.abs() > 1e-3).expect("something was heard");
    let end = played.iter().rposition(|s| s.abs() > 1e-3).unwrap();
    let (mut quiet_run, mut longest, mut longest_end) = (0, 0, 0);
    for (i, s) in played[start..end].iter().enumerate() {
        quiet_run = if s.abs() < 1e-3 { quiet_run + 1 } else { 0 };
        if quiet_run > longest {
            (longest, longest_end) = (quiet_run, i);
        }
    }
    assert!(
        longest <= 2_400,
        "{} ms below -60 dBFS, ending {:.2} s after the first sound",
        longest / 48,
        longest_end as f64 / 48_000.0
    );
    let jump = |w: &[f32]| (w[1] - w[0]).abs();
    let largest_in_tracks = tracks
        .into_iter()
        .map(|t| t.windows(2).map(jump).fold(0.0f32, f32::max))
        .fold(0.0f32, f32::max);
    let largest_played = played[start..end].windows(2).map(jump).fold(0.0f32, f32::max);
    eprintln!(
        "heard {:.1} s: longest run below -60 dBFS {:.1} ms; largest step {largest_played:.4} (tracks: {largest_in_tracks:.4})",
        played.len() as f64 / 48_000.0,
        longest as f64 / 48.0
    );
    assert!(
        largest_played <= largest_in_tracks,
        "a jump of {largest_played} played; the tracks' largest is {largest_in_tracks}"
    );
}

/// Where [`listened_fixture_daemon`] writes what the listener heard.
pub fn capture_path(dir: &Path) -> PathBuf {
    dir.join("heard.f32")
}

/// A daemon on the tiny fixture (Q8_0, one thread), each decoder step `step_delay_ms` slower;
/// `configure` adds to its command.
pub fn fixture_daemon(dir: &Path, step_delay_ms: u32, configure: impl FnOnce(&mut Command)) -> Daemon {
    let model = quantized_fixture(dir, lofi_convert::FileType::Q8_0);
    let args = [
        "--backend",
        "ggml",
        "--model",
        model.to_str().unwrap(),
        "--threads",
        "1",
    ];
    Daemon::start_with(dir, &args, |cmd| {
        // The step delay is a test hook: without the hooks on, it was ignored.
        cmd.env("LOFI_DAEMON_TEST_HOOKS", "1")
            .env("LOFI_TEST_STEP_DELAY_MS", step_delay_ms.to_string());
        configure(cmd);
    })
}

/// [`fixture_daemon`] heard through the `none` output's real-time capture at [`capture_path`].
pub fn listened_fixture_daemon(dir: &Path, step_delay_ms: u32) -> Daemon {
    fixture_daemon(dir, step_delay_ms, |cmd| {
        cmd.env("LOFI_TEST_CAPTURE", capture_path(dir));
    })
}
