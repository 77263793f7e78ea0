//! Daemon start to first reply (goal <= 20 ms) and idle RSS (goal <= 15 MB), against
//! `cat` spawned and echoing one line through the same pipes as the baseline.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
}

/// Time to the first reply, and RSS right after it and after `settle` more of idling.
fn round_trip(mut cmd: Command, line: &str, settle: Duration) -> (Duration, Option<u64>, Option<u64>) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(line.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut reply = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut reply)
        .unwrap();
    let elapsed = start.elapsed();
    assert!(!reply.is_empty());
    let first = rss_kb(child.id());
    std::thread::sleep(settle);
    let settled = rss_kb(child.id());
    drop(stdin);
    child.wait().unwrap();
    (elapsed, first, settled)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let request = "{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":1}\n";
    let mut daemon_times = Vec::new();
    let mut rss = Vec::new();
    let mut rss_settled = Vec::new();
    let mut cat_times = Vec::new();
    for i in 0..20 {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lofi-daemon"));
        cmd.arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .arg("--pid-file")
            .arg(dir.path().join(format!("{i}.pid")));
        let (t, r, settled) = round_trip(cmd, request, Duration::from_millis(500));
        daemon_times.push(t);
        rss.extend(r);
        rss_settled.extend(settled);
        cat_times.push(round_trip(Command::new("cat"), request, Duration::ZERO).0);
    }
    let (d, c) = (median(daemon_times), median(cat_times));
    rss.sort();
    rss_settled.sort();
    println!(
        "daemon start to first reply: median {:.2} ms (goal 20 ms); spawning cat and echoing one line: {:.2} ms; ratio {:.1}x",
        d.as_secs_f64() * 1e3,
        c.as_secs_f64() * 1e3,
        d.as_secs_f64() / c.as_secs_f64()
    );
    if let (Some(kb), Some(settled)) = (rss.get(rss.len() / 2), rss_settled.get(rss_settled.len() / 2)) {
        println!(
            "daemon RSS after the first reply: {:.1} MB; idle 0.5 s later: {:.1} MB (goal 15 MB; medians of 20)",
            *kb as f64 / 1024.0,
            *settled as f64 / 1024.0
        );
    }
}
