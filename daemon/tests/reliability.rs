//! The defects adversarial testing found (issue "Reliability"), one test each, plus the
//! panic policy: every test here failed before its fix.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{tempdir, Daemon};
use serde_json::{json, Value};

/// Generates a 1 s track and returns its id.
fn track(d: &mut Daemon, seed: u64) -> String {
    let done = d.generate(json!({ "prompt": "lofi", "seed": seed, "duration_sec": 1.0 }));
    done["track_id"].as_str().unwrap().to_owned()
}

/// Removes a track's files behind the daemon's back, as another daemon sharing the cache
/// does when it evicts or deletes it.
fn remove_behind_its_back(cache: &Path, id: &str) {
    std::fs::remove_file(cache.join(format!("{id}.json"))).unwrap();
    std::fs::remove_file(cache.join(format!("{id}.wav"))).unwrap();
}

/// A daemon with two fresh tracks A and B in its playlist, and A's files then removed
/// behind its back.
fn playlist_whose_first_entry_left(dir: &Path) -> (Daemon, String, String) {
    let mut d = Daemon::start(dir, &[]);
    let (a, b) = (track(&mut d, 1), track(&mut d, 2));
    d.result("playlist_add", json!({ "track_id": a }));
    d.result("playlist_add", json!({ "track_id": b }));
    remove_behind_its_back(&d.cache_dir, &a);
    (d, a, b)
}

fn playlist(d: &mut Daemon) -> Vec<String> {
    let list = d.result("playlist_get", json!({}));
    serde_json::from_value(list["tracks"].clone()).unwrap()
}

fn assert_alive(d: &mut Daemon) {
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon exited");
    assert_eq!(d.result("status", json!({}))["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn an_earlier_playlist_entry_leaving_the_cache_does_not_kill_the_daemon() {
    // Defect 1: [A, B], A evicted elsewhere, then `play B`: queuing what follows B (A, the
    // loop wraps) dropped A and shifted the indexes under `start`.
    let dir = tempdir();
    let (mut d, a, b) = playlist_whose_first_entry_left(dir.path());
    let playing = d.result("play", json!({ "track_id": b }));
    assert_eq!(
        (playing["state"].as_str(), playing["track_id"].as_str()),
        (Some("playing"), Some(b.as_str()))
    );
    let changed = d.notification("playlist_changed", |p| p["removed"] == json!([a]));
    assert_eq!(changed["tracks"], json!([b]));
    assert_alive(&mut d);

    // The same through `generate {play: true}`, which runs on the pump thread.
    let c = track(&mut d, 3);
    d.result("playlist_add", json!({ "track_id": c }));
    remove_behind_its_back(&d.cache_dir, &b);
    let e = d.result(
        "generate",
        json!({ "prompt": "lofi", "seed": 4, "duration_sec": 1.0, "play": true }),
    );
    let e = e["track_id"].as_str().unwrap().to_owned();
    d.notification("playback_started", |p| p["track_id"] == e);
    // The pump still runs: the next generation completes and is announced.
    assert_eq!(track(&mut d, 5).len(), 8);
    assert_alive(&mut d);
    assert!(!playlist(&mut d).contains(&b));
}

#[test]
fn play_after_the_cache_was_emptied_elsewhere_generates_instead_of_failing() {
    // Defect 2: after a clear by another daemon, `play` answered -32002 for the stale
    // playlist entry on every call.
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let mut other = Daemon::start(dir.path(), &[]);
    let (a, b) = (track(&mut d, 1), track(&mut d, 2));
    d.result("play", json!({ "track_id": a }));
    d.result("playlist_add", json!({ "track_id": b }));
    d.result("stop", json!({}));

    // One track gone: `play` plays the one left.
    other.result("cache_delete", json!({ "track_id": a }));
    let playing = d.result("play", json!({}));
    assert_eq!(playing["track_id"], b.as_str(), "{playing}");
    d.result("stop", json!({}));

    // All gone: `play` generates one, as with an empty cache; the playlist lost its entries
    // with a notification.
    other.result("cache_clear", json!({}));
    let reply = d.result("play", json!({}));
    assert_eq!(reply["state"], "generating", "{reply}");
    let removed = d.notification("playlist_changed", |p| p["removed"] == json!([b]));
    assert_eq!(removed["reason"], "not_in_cache");
    let fresh = reply["track_id"].as_str().unwrap().to_owned();
    d.notification("playback_started", |p| p["track_id"] == fresh);
    assert_eq!(playlist(&mut d), vec![fresh]);
}

#[test]
fn tracks_that_leave_the_cache_leave_the_playlist_within_a_second() {
    let dir = tempdir();
    let (mut d, a, b) = playlist_whose_first_entry_left(dir.path());
    // No request: the daemon notices on its own.
    let changed = d.notification("playlist_changed", |p| p["reason"] == "not_in_cache");
    assert_eq!(
        (changed["removed"].clone(), changed["tracks"].clone()),
        (json!([a]), json!([b]))
    );
}

fn pid_command(dir: &Path) -> Command {
    let mut cmd = common::daemon_command();
    cmd.args(["--audio-device", "none", "--cache-dir"])
        .arg(dir.join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn the_pid_file_never_follows_links_and_removes_only_its_own_file() {
    // Defect 3.
    let dir = tempdir();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();

    // A planted symlink at the pid path is refused, and its target left alone.
    let link = dir.path().join("planted.pid");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let out = pid_command(dir.path()).arg("--pid-file").arg(&link).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write pid file"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    // A file that is not ours is neither overwritten nor deleted.
    let out = pid_command(dir.path()).arg("--pid-file").arg(&victim).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a pid file"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    // A stale pid file (its process is gone) is taken over, and removed at exit.
    let stale = dir.path().join("stale.pid");
    std::fs::write(&stale, "999999999\n").unwrap();
    let mut child = pid_command(dir.path()).arg("--pid-file").arg(&stale).spawn().unwrap();
    common::wait_for(|| std::fs::read_to_string(&stale).is_ok_and(|t| t.trim() == child.id().to_string()));
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert!(!stale.exists());
}

#[test]
fn without_a_runtime_dir_pid_files_go_to_a_private_directory_one_per_daemon() {
    let dir = tempdir();
    let spawn = || {
        pid_command(dir.path())
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", dir.path())
            .spawn()
            .unwrap()
    };
    // SAFETY: getuid cannot fail.
    let private = dir.path().join(format!("lofi-{}", unsafe { libc::getuid() }));
    let pid_of = |child: &std::process::Child| {
        std::fs::read_dir(&private).ok().and_then(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.trim() == child.id().to_string()))
        })
    };
    // Two daemons of one parent: two pid files; the first to exit leaves the other's.
    let mut first = spawn();
    common::wait_for(|| pid_of(&first).is_some());
    let mut second = spawn();
    common::wait_for(|| pid_of(&second).is_some());
    let meta = std::fs::symlink_metadata(&private).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    let second_file = pid_of(&second).unwrap();
    assert_ne!(pid_of(&first).unwrap(), second_file);
    drop(first.stdin.take());
    first.wait().unwrap();
    assert!(second_file.exists());
    drop(second.stdin.take());
    second.wait().unwrap();
    assert!(!second_file.exists());

    // A directory others can enter is refused with a way out, and the daemon runs without a
    // pid file (it serves manual clean-up only), writing nothing there.
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = spawn().wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("is not a private directory")
            && err.contains("XDG_RUNTIME_DIR")
            && err.contains("running without one"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&private).unwrap().count(), 0);
}

#[test]
fn nonsense_cache_limits_are_refused_on_the_command_line_as_by_request() {
    // Defect 4: these emptied the cache at the first store.
    let dir = tempdir();
    for args in [
        ["--cache-max-mb", "nan"],
        ["--cache-max-mb", "inf"],
        ["--cache-max-mb", "0"],
        ["--cache-max-mb", "1e-9"],
        ["--cache-max-mb", "-1"],
        ["--cache-max-tracks", "0"],
    ] {
        let out = pid_command(dir.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("at least 1"), "{args:?}: {err}");
    }
    let mut d = Daemon::start(dir.path(), &[]);
    for (field, value) in [
        ("max_mb", json!(1e-9)),
        ("max_mb", json!(0.5)),
        ("max_tracks", json!(0)),
    ] {
        let error = d.error("cache_config", json!({ field: value }));
        assert_eq!(error["code"], -32602, "{field} {value}");
    }
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn special_files_in_the_cache_never_block_the_daemon() {
    // Defect 6: a FIFO named like a sidecar, or as the lock, blocked the request thread.
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let a = track(&mut d, 1);
    mkfifo(&d.cache_dir.join("0123abcd.json"));
    let list = d.result("cache_list", json!({}));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(d.error("play", json!({ "track_id": "0123abcd" }))["code"], -32002);

    std::fs::remove_file(d.cache_dir.join(".lock")).unwrap();
    mkfifo(&d.cache_dir.join(".lock"));
    let error = d.error("cache_delete", json!({ "track_id": a }));
    assert_eq!(error["code"], -32003, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("not a regular file"),
        "{error}"
    );
    assert_alive(&mut d);
}

#[test]
fn a_huge_or_damaged_sidecar_costs_a_warning_not_memory() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let a = track(&mut d, 1);
    let huge = d.cache_dir.join("0badcafe.json");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(200 << 20).unwrap(); // sparse: no disk, but 200 MB to whoever reads it all
    std::fs::write(d.cache_dir.join("0badcafe.wav"), b"RIFF").unwrap();
    for _ in 0..3 {
        d.result("status", json!({}));
    }
    let list = d.result("cache_list", json!({}));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["track_id"], a.as_str());
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.child.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(peak_kb < 100 * 1024, "peak RSS {peak_kb} kB");
}

#[test]
fn a_deleted_cache_directory_is_recreated() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    track(&mut d, 1);
    std::fs::remove_dir_all(&d.cache_dir).unwrap();
    let b = track(&mut d, 2);
    assert!(d.cache_dir.join(format!("{b}.wav")).is_file());
}

#[test]
fn request_ids_come_back_byte_for_byte() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    for id in ["1e2", "-0", "100000000000000000000", "1.50", "\"x\""] {
        d.send_raw(format!("{{\"jsonrpc\":\"2.0\",\"method\":\"volume_get\",\"id\":{id}}}\n").as_bytes());
        let line = std::iter::from_fn(|| d.raw_line(Duration::from_secs(10)))
            .find(|l| !l.contains("\"method\""))
            .expect("a reply");
        assert!(line.ends_with(&format!("\"id\":{id}}}")), "{id}: {line}");
    }
}

#[test]
fn generate_out_is_an_ordinary_file_and_alsa_stays_quiet() {
    let dir = tempdir();
    let out = dir.path().join("beat.wav");
    // On a machine without a sound card (this one, CI's) libasound complains in eight lines;
    // they go to the log, and the user sees the daemon's one line.
    let result = common::daemon_command()
        .args(["generate", "lofi", "--duration", "1", "--play", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!stderr.contains("ALSA lib"), "{stderr}");
    assert!(
        stderr.contains("cannot play") || stderr.contains("playing on"),
        "{stderr}"
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .unwrap();
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask, "--out gets the usual mode, not 0600");
}

#[test]
fn a_panic_in_any_thread_ends_the_daemon_with_a_log_line() {
    // The request thread is the process's main thread.
    for (hook, thread) in [("request", "main"), ("pump", "pump")] {
        let dir = tempdir();
        let log = dir.path().join("daemon.log");
        let log_arg = log.to_str().unwrap().to_owned();
        let mut d = Daemon::start_with(dir.path(), &["--log-file", &log_arg], |cmd| {
            cmd.env("LOFI_DAEMON_TEST_HOOKS", "1");
        });
        let pid_file = d.pid_file.clone();
        common::wait_for(|| pid_file.exists());
        d.send_raw(
            format!(
                "{}\n",
                json!({"jsonrpc": "2.0", "method": "debug_panic", "params": {"thread": hook}, "id": 1})
            )
            .as_bytes(),
        );
        assert!(
            d.wait_exit(Duration::from_secs(10)).is_some(),
            "{thread}: still running"
        );
        assert_eq!(d.child.wait().unwrap().code(), Some(101), "{thread}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains(&format!("thread \"{thread}\" panicked")),
            "{thread}: {text}"
        );
        assert!(!pid_file.exists(), "{thread}: pid file left behind");
    }
    // Without the test switch the method does not exist.
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let error: Value = d.error("debug_panic", json!({ "thread": "request" }));
    assert_eq!(error["code"], -32601);
}
