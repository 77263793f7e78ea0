//! Process lifecycle of the real binary: EOF, idle timeout, signals, pid file, logging.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{tempdir, Daemon};
use serde_json::json;

#[test]
fn exits_within_a_second_of_stdin_eof_and_removes_pid_file() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    d.result("status", json!({}));
    let pid_file = d.pid_file.clone();
    let meta = std::fs::metadata(&pid_file).expect("pid file exists while running");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert_eq!(pid, d.child.id());
    // Even mid-generation, EOF ends the daemon promptly.
    d.result("generate", json!({ "prompt": "long", "seed": 1, "duration_sec": 600 }));
    d.close_stdin();
    let took = d.wait_exit(Duration::from_secs(5)).expect("daemon exits after EOF");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(!pid_file.exists());
    assert!(d.child.wait().unwrap().success());
}

#[test]
fn idle_timeout_exits_but_never_mid_generation() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &["--idle-timeout", "1"]);
    // Busy generating a long track (600 s: ~4 s of rendering here, the timeout passing
    // meanwhile): stays up until it is done and said so. The pipe keeps what the daemon wrote
    // before it exited, so a daemon gone mid-generation leaves no notification to read. (A check
    // that it was still up 1.5 s in raced a 240 s track, rendered in ~1.4 s: the daemon, idle since
    // the request, rightly left as it finished.)
    d.result("generate", json!({ "prompt": "long", "seed": 2, "duration_sec": 600 }));
    d.notification("generation_complete", |_| true);
    assert!(d.wait_exit(Duration::from_secs(4)).is_some(), "idle daemon should exit");
    assert!(!d.pid_file.exists());

    let mut never = Daemon::start(dir.path(), &["--idle-timeout", "0"]);
    std::thread::sleep(Duration::from_millis(1500));
    never.result("status", json!({}));
}

#[test]
fn sigterm_cleans_up() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    d.result("status", json!({}));
    unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };
    assert!(d.wait_exit(Duration::from_secs(2)).is_some());
    assert!(!d.pid_file.exists());
}

#[test]
fn logs_go_to_the_log_file_never_stdout() {
    let dir = tempdir();
    let log = dir.path().join("daemon.log");
    let log_arg = log.to_str().unwrap().to_owned();
    let mut d = Daemon::start(dir.path(), &["--log-file", &log_arg, "--log-level", "debug"]);
    d.result("status", json!({})); // the harness panics on any non-JSON-RPC stdout line
    d.error("warp", json!({}));
    d.close_stdin();
    d.wait_exit(Duration::from_secs(2));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("lofi-daemon started"), "{text}");
    assert!(text.contains("warp"), "{text}");
}

#[test]
fn version_and_bad_flags() {
    let out = common::daemon_command().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("lofi-daemon {}", env!("CARGO_PKG_VERSION"))
    );
    let out = common::daemon_command()
        .args(["--log-level", "lo(ud"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: invalid value 'lo(ud' for '--log-level <LEVEL>'"),
        "{err}"
    );
    let out = common::daemon_command()
        .args(["--pid-file", "/nonexistent/dir/x.pid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write pid file /nonexistent/dir/x.pid"));
}

#[test]
fn ggml_without_a_model_falls_back_to_procedural_with_a_warning() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &["--backend", "ggml", "--model", "/nope/model.gguf"]);
    let warning = d.notification("daemon_warning", |_| true);
    assert_eq!(warning["code"], "MODEL_NOT_FOUND");
    assert!(warning["message"].as_str().unwrap().contains("/nope/model.gguf"));
    assert_eq!(d.result("status", json!({}))["model"]["backend"], "procedural");
}

#[test]
fn auto_without_a_model_plays_procedural_quietly() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &["--backend", "auto", "--model", "/nope/model.gguf"]);
    // The warning would be written before the first reply.
    assert_eq!(d.result("status", json!({}))["model"]["backend"], "procedural");
    assert!(
        d.backlog
            .iter()
            .all(|v| v["method"] != "daemon_warning" || v["params"]["code"] != "MODEL_NOT_FOUND"),
        "no model is the usual case, not a warning: {:?}",
        d.backlog
    );
    let fixture = common::fixture_model();
    let mut d = Daemon::start(
        dir.path(),
        &[
            "--backend",
            "auto",
            "--model",
            fixture.to_str().unwrap(),
            "--threads",
            "1",
        ],
    );
    assert_eq!(d.result("status", json!({}))["model"]["backend"], "ggml");
}
