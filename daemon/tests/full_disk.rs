//! A full disk: a real tmpfs mounted in a mount namespace held by a sleeping process, which the
//! daemons under test enter, filled by this test through `/proc/<pid>/root` so that the daemon
//! meets the end of the disk at every stage of a store (the audio, lame's MP3, the tags, the
//! sidecar). Each time the generation either lands whole or fails with `CACHE_WRITE_ERROR`
//! naming the full disk, and the tracks already cached stay whole and playable; an AI track
//! streaming as it plays plays out and says why it is not kept; a radio stops saying why; a
//! loop makes nothing ahead (said once) until there is room; two daemons sharing the cache fail
//! and recover alike; `generate --out` fails in one sentence and leaves nothing; a pid file that
//! cannot be written is not left in the way. Needs the right to unshare and enter mount
//! namespaces (root, as here and in CI); skipped, saying so, elsewhere.

mod common;

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{assert_cache_consistent, tempdir, Daemon};
use serde_json::{json, Value};

const PAGE: u64 = 4096;
const TMPFS_BYTES: u64 = 8 << 20;
/// 127 964 frames: the WAV (16-bit stereo, a 44-byte header) ends 100 bytes short of a page,
/// so its tags take a page of their own and the sweep below also fills the disk at them.
const FRAMES: u64 = 1024 * 125 - 36;

/// Makes `command` start in a mount namespace of its own, with a tmpfs of `bytes` on `dir`.
fn on_a_small_tmpfs(command: &mut Command, dir: &Path, bytes: u64) {
    let target = CString::new(dir.as_os_str().as_bytes()).unwrap();
    let options = CString::new(format!("size={bytes}")).unwrap();
    // SAFETY: only system calls between fork and exec, on strings made before the fork.
    unsafe {
        command.pre_exec(move || {
            let private = libc::MS_REC | libc::MS_PRIVATE;
            let mounted = libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    private,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    c"tmpfs".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    options.as_ptr().cast(),
                ) == 0;
            if mounted {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// A tmpfs of a given size mounted on a directory in a mount namespace of its own, held by a
/// sleeping process: commands started [`SmallDisk::inside`] see the tmpfs there (several at
/// once, one after another), this test sees it at [`SmallDisk::seen_from_here`].
struct SmallDisk {
    holder: Child,
    namespace: File,
    dir: PathBuf,
}

impl SmallDisk {
    /// `None` (said on stderr) where this user may not mount one.
    fn mount(dir: &Path, bytes: u64) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let mut holder = Command::new("sleep");
        holder.arg("3600").stdin(Stdio::null());
        on_a_small_tmpfs(&mut holder, dir, bytes);
        let holder = match holder.spawn() {
            Ok(holder) => holder,
            Err(e) => {
                eprintln!("skipped: this user cannot mount a tmpfs in a mount namespace of its own ({e})");
                return None;
            }
        };
        let namespace = File::open(format!("/proc/{}/ns/mnt", holder.id())).unwrap();
        Some(SmallDisk {
            holder,
            namespace,
            dir: dir.to_owned(),
        })
    }

    /// Makes `command` start in the disk's mount namespace.
    fn inside(&self, command: &mut Command) {
        let namespace = self.namespace.as_raw_fd();
        // SAFETY: one system call between fork and exec, on a descriptor open until the exec.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(namespace, libc::CLONE_NEWNS) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }

    fn seen_from_here(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(self.dir.strip_prefix("/").unwrap())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A daemon whose cache is `disk`.
fn daemon_on(disk: &SmallDisk, dir: &Path, extra: &[&str]) -> Daemon {
    assert_eq!(disk.dir, dir.join("cache"), "the harness puts the cache at <dir>/cache");
    Daemon::start_with(dir, extra, |command| disk.inside(command))
}

/// A file that takes the disk's free space: `fill` takes all of it, `leave` gives some back.
struct Filler {
    file: File,
}

impl Filler {
    fn new(cache: &Path) -> Filler {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(cache.join("filler"))
            .unwrap();
        Filler { file }
    }

    fn fill(&mut self) {
        let page = [0u8; PAGE as usize];
        loop {
            match self.file.write(&page) {
                Ok(_) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
    }

    /// Fills the disk, then frees `bytes` of it.
    fn leave(&mut self, bytes: u64) {
        self.fill();
        let len = self.file.metadata().unwrap().len();
        assert!(len >= bytes, "the filler holds {len} bytes, {bytes} asked back");
        self.file.set_len(len - bytes).unwrap();
    }
}

/// The generation's outcome: its `generation_complete` or `generation_error` params, and which.
fn generation_outcome(d: &mut Daemon, params: Value) -> (bool, Value) {
    let ack = d.result("generate", params);
    let id = ack["track_id"].clone();
    let ours = |v: &Value| {
        (v["method"] == "generation_complete" || v["method"] == "generation_error") && v["params"]["track_id"] == id
    };
    if let Some(i) = d.backlog.iter().position(ours) {
        let v = d.backlog.remove(i);
        return (v["method"] == "generation_complete", v["params"].clone());
    }
    loop {
        let v = d.read(common::timeout()).expect("the generation ends");
        if ours(&v) {
            return (v["method"] == "generation_complete", v["params"].clone());
        }
        d.backlog.push(v);
    }
}

/// The WAV at `path` decodes to its end with `FRAMES` of audio.
fn assert_whole_wav(path: &Path) {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(reader.duration() as u64, FRAMES, "{}", path.display());
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(samples.len() as u64, FRAMES * reader.spec().channels as u64);
}

/// A daemon storing `format` on a small disk generates the same track again and again, the
/// disk filled each time to leave a different amount free: none, a page, and a page at a time
/// around each point where the store needs more (`stages`: the bytes on disk at each), so that
/// every write of the store meets the end of the disk. Each time the track lands identical to
/// the one stored with room to spare (or, for an MP3 that lame could not finish, as a whole
/// WAV) or fails with `CACHE_WRITE_ERROR` naming the full disk; nothing half-written stays and
/// the track cached before is untouched. Then, the disk still full, that track plays, and once
/// space is back the next generation lands without a restart.
fn sweep_free_space(format: &str, stages: impl Fn(u64) -> Vec<u64>) {
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount(&dir.path().join("cache"), TMPFS_BYTES) else {
        return;
    };
    let mut d = daemon_on(&disk, dir.path(), &["--format", format]);
    let cache = disk.seen_from_here();
    let generation =
        |seed: u64| json!({ "prompt": "rain on a tin roof", "seed": seed, "duration_sec": FRAMES as f64 / 32000.0 });
    let (done, kept) = generation_outcome(&mut d, generation(1));
    assert!(done, "{kept}");
    // The daemon's paths are in its own mount namespace: read them through `cache`.
    let seen_from_here = |done: &Value| cache.join(Path::new(done["path"].as_str().unwrap()).file_name().unwrap());
    let kept_file = seen_from_here(&kept);
    let kept_bytes = std::fs::read(&kept_file).unwrap();
    let (done, reference) = generation_outcome(&mut d, generation(2));
    assert!(done, "{reference}");
    assert_eq!(reference["format"], format);
    let reference_bytes = std::fs::read(seen_from_here(&reference)).unwrap();
    d.result("cache_delete", json!({ "track_id": reference["track_id"] }));
    let before = d.cached_ids();

    let mut filler = Filler::new(&cache);
    let around = |bytes: u64| (bytes / PAGE).saturating_sub(2)..=bytes / PAGE + 2;
    let mut frees: Vec<u64> = stages(reference_bytes.len() as u64)
        .into_iter()
        .flat_map(|bytes| around(bytes).map(|pages| pages * PAGE))
        .collect();
    frees.extend([0, PAGE]);
    frees.sort();
    frees.dedup();
    let (mut failed, mut landed) = (0, 0);
    for &free in &frees {
        filler.leave(free);
        let (done, outcome) = generation_outcome(&mut d, generation(2));
        if done {
            landed += 1;
            let stored = seen_from_here(&outcome);
            if outcome["format"] == format {
                assert!(
                    std::fs::read(&stored).unwrap() == reference_bytes,
                    "{free} bytes free: {} differs",
                    stored.display()
                );
            } else {
                assert_eq!(outcome["format"], "wav", "{outcome}");
                assert_whole_wav(&stored);
            }
            d.result("cache_delete", json!({ "track_id": outcome["track_id"] }));
        } else {
            failed += 1;
            assert_eq!(outcome["code"], "CACHE_WRITE_ERROR", "{free} bytes free: {outcome}");
            assert_eq!(
                (&outcome["prefetch"], &outcome["stand_in"]),
                (&json!(false), &json!(false))
            );
            let message = outcome["message"].as_str().unwrap();
            assert!(
                message.starts_with("cannot write to the cache at ") && message.contains("No space left on device"),
                "{free} bytes free: {message}"
            );
        }
        assert_eq!(d.cached_ids(), before, "{free} bytes free");
        assert_cache_consistent(&cache);
        assert!(
            std::fs::read(&kept_file).unwrap() == kept_bytes,
            "{free} bytes free: the cached track changed"
        );
    }
    eprintln!(
        "{format}: {} amounts of free space from 0 to {} bytes: {landed} landed, {failed} failed",
        frees.len(),
        frees.last().unwrap()
    );
    assert!(failed > 0 && landed > 0, "the sweep missed the track's size");

    filler.leave(0);
    d.result("play", json!({ "track_id": before[0] }));
    d.notification("playback_started", |p| p["track_id"] == before[0].as_str());
    d.result("stop", json!({}));
    filler.file.set_len(0).unwrap();
    let (done, outcome) = generation_outcome(&mut d, generation(3));
    assert!(done, "{outcome}");
}

#[test]
fn a_full_disk_at_any_stage_of_storing_a_wav_fails_in_one_sentence_and_loses_nothing() {
    // The stored WAV with its tags, then its sidecar.
    sweep_free_space("wav", |track| vec![track, track + PAGE]);
}

#[test]
fn a_full_disk_at_any_stage_of_storing_an_mp3_fails_in_one_sentence_and_loses_nothing() {
    if !common::lame_or_skip() {
        return;
    }
    // The WAV that lame reads (16-bit stereo, a 44-byte header), then the MP3 beside it, its
    // tags, its sidecar.
    let wav = FRAMES * 4 + 44;
    sweep_free_space("mp3", |track| vec![wav, wav + track, wav + track + PAGE]);
}

#[test]
fn the_radio_on_a_full_disk_stops_saying_why() {
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount(&dir.path().join("cache"), TMPFS_BYTES) else {
        return;
    };
    let mut d = daemon_on(&disk, dir.path(), &[]);
    let cache = disk.seen_from_here();
    Filler::new(&cache).leave(0);
    d.result("radio_start", json!({ "prompt": "rainy night", "seed": 3 }));
    let stopped = d.notification("radio_stopped", |_| true);
    assert_eq!(stopped["reason"], "CACHE_WRITE_ERROR", "{stopped}");
    assert!(
        stopped["message"].as_str().unwrap().contains("No space left on device"),
        "{stopped}"
    );
    assert!(d.result("status", json!({}))["radio"].is_null());
    assert_cache_consistent(&cache);
}

#[test]
fn generate_out_on_a_full_disk_fails_in_one_sentence() {
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount(&dir.path().join("out"), TMPFS_BYTES) else {
        return;
    };
    let mut filler = Filler::new(&disk.seen_from_here());
    let duration = (FRAMES as f64 / 32000.0).to_string();
    let mut generate = |name: &str, free: u64| {
        filler.leave(free);
        let mut command = common::daemon_command();
        command.args(["generate", "rain", "--seed", "1", "--duration", &duration, "--out"]);
        command.arg(disk.dir.join(name));
        disk.inside(&mut command);
        let run = command.output().unwrap();
        assert_eq!(run.status.code(), Some(1), "{name} with {free} bytes free");
        let left: Vec<_> = std::fs::read_dir(disk.seen_from_here())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["filler"], "{name}: nothing of it is left");
        String::from_utf8_lossy(&run.stderr).into_owned()
    };
    let said = generate("beat.wav", 16 * PAGE);
    let last = said.trim().lines().last().unwrap();
    assert!(
        last.contains("cannot write ") && last.contains("beat.wav: No space left on device"),
        "{said}"
    );
    if common::lame_or_skip() {
        // Room for the WAV that lame reads and a page of the MP3.
        let said = generate("beat.mp3", (FRAMES * 4 + 44).div_ceil(PAGE) * PAGE + PAGE);
        let last = said.trim().lines().last().unwrap();
        assert!(last.contains("beat.mp3: lame could not encode it"), "{said}");
    }
}

/// An AI track asked to play streams from memory: on a full disk its store fails after it
/// started, the failure is said, and what arrived (here all of it) plays out to its end.
#[test]
fn an_ai_track_streaming_on_a_full_disk_plays_out_and_says_why_it_is_not_kept() {
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount(&dir.path().join("cache"), TMPFS_BYTES) else {
        return;
    };
    let mut d = common::fixture_daemon(dir.path(), 8, |command| disk.inside(command));
    let seen_from_here = disk.seen_from_here();
    d.result("playback_config", json!({ "loop": false }));
    Filler::new(&seen_from_here).leave(0);
    let ack = d.result(
        "generate",
        json!({ "prompt": "rain", "seed": 3, "duration_sec": 6, "play": true }),
    );
    let id = ack["track_id"].as_str().unwrap().to_owned();
    d.notification("playback_started", |p| p["track_id"] == id.as_str());
    let failed = d.notification("generation_error", |p| p["track_id"] == id.as_str());
    assert_eq!(failed["code"], "CACHE_WRITE_ERROR", "{failed}");
    assert!(failed["message"].as_str().unwrap().contains("No space left on device"));
    let mut furthest = 0.0f64;
    common::wait_for(|| {
        let playback = d.result("status", json!({}))["playback"].clone();
        furthest = furthest.max(playback["position_sec"].as_f64().unwrap());
        playback["state"] == "stopped"
    });
    assert!(furthest > 5.5, "played to {furthest} s of 6");
    assert!(d.cached_ids().is_empty());
    assert_cache_consistent(&seen_from_here);
}

/// Two daemons share one cache on a full disk: both fail to store, saying why, neither loses
/// the other's track; once there is room both make the same track, which is stored once.
#[test]
fn two_daemons_on_one_full_cache_fail_alike_and_recover_alike() {
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount(&dir.path().join("cache"), TMPFS_BYTES) else {
        return;
    };
    let mut a = daemon_on(&disk, dir.path(), &[]);
    let mut b = daemon_on(&disk, dir.path(), &[]);
    let track = |seed: u64| json!({ "prompt": "two rooms", "seed": seed, "duration_sec": 2 });
    assert!(generation_outcome(&mut a, track(1)).0);
    let mut filler = Filler::new(&disk.seen_from_here());
    filler.leave(0);
    for d in [&mut a, &mut b] {
        let (done, outcome) = generation_outcome(d, track(2));
        assert!(!done && outcome["code"] == "CACHE_WRITE_ERROR", "{outcome}");
        assert_eq!(d.cached_ids().len(), 1, "the first track stays");
    }
    filler.file.set_len(0).unwrap();
    let (done_a, from_a) = generation_outcome(&mut a, track(2));
    let (done_b, from_b) = generation_outcome(&mut b, track(2));
    assert!(done_a && done_b, "{from_a} {from_b}");
    assert_eq!(from_a["track_id"], from_b["track_id"]);
    assert_eq!(a.cached_ids(), b.cached_ids());
    assert_eq!(a.cached_ids().len(), 2);
    assert_cache_consistent(&disk.seen_from_here());
}

/// A pid file that cannot be written (its disk full) fails the start in one sentence and is
/// not left behind: an empty one would be in the way of every later start.
#[test]
fn a_pid_file_on_a_full_disk_fails_the_start_and_is_not_left_in_the_way() {
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount(&dir.path().join("run"), 16 * PAGE) else {
        return;
    };
    let start = || {
        let mut command = common::daemon_command();
        command
            .args(["--audio-device", "none", "--cache-dir"])
            .arg(dir.path().join("cache"))
            .arg("--pid-file")
            .arg(disk.dir.join("lofi.pid"))
            .stdin(Stdio::null());
        disk.inside(&mut command);
        command.output().unwrap()
    };
    let mut filler = Filler::new(&disk.seen_from_here());
    filler.leave(0);
    let full = start();
    let said = String::from_utf8_lossy(&full.stderr);
    assert!(!full.status.success(), "{said}");
    let last = said.trim().lines().last().unwrap();
    assert!(
        last.contains("cannot write pid file") && last.contains("No space left on device"),
        "{said}"
    );
    assert!(
        !disk.seen_from_here().join("lofi.pid").exists(),
        "an empty pid file was left"
    );
    filler.file.set_len(0).unwrap();
    let again = start();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
}

/// The default pid file (in `$XDG_RUNTIME_DIR`) serves manual clean-up only: on a full runtime
/// directory the daemon starts without one, saying so in its log, and plays.
#[test]
fn a_full_runtime_directory_leaves_the_daemon_running_without_its_default_pid_file() {
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount(&dir.path().join("run"), 16 * PAGE) else {
        return;
    };
    Filler::new(&disk.seen_from_here()).leave(0);
    let mut command = common::daemon_command();
    command
        .args(["--audio-device", "none", "--cache-dir"])
        .arg(dir.path().join("cache"))
        .env("XDG_RUNTIME_DIR", &disk.dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    disk.inside(&mut command);
    let mut child = command.spawn().unwrap();
    let request =
        r#"{"jsonrpc":"2.0","id":1,"method":"generate","params":{"prompt":"run","duration_sec":1,"play":true}}"#;
    writeln!(child.stdin.as_mut().unwrap(), "{request}").unwrap();
    let mut replies = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = replies
        .find_map(|line| {
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            (v["method"] == "playback_started").then_some(v)
        })
        .expect("it plays");
    assert!(started["params"]["track_id"].is_string());
    drop(child.stdin.take()); // end of input: the daemon exits
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("cannot write pid file")
            && said.contains("No space left on device")
            && said.contains("running without one"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_dir(disk.seen_from_here()).unwrap().count(),
        1,
        "only the filler"
    );
}

/// A loop playing on a full disk makes nothing ahead: a prefetch at every pass would make a
/// track (MusicGen: seconds of every core) only to fail storing it, and tell the editor so each
/// time. It is said once, and once there is room the next track is made ahead again.
#[test]
fn a_full_disk_stops_prefetching_said_once_until_there_is_room() {
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount(&dir.path().join("cache"), TMPFS_BYTES) else {
        return;
    };
    let mut d = daemon_on(&disk, dir.path(), &[]);
    let (done, first) = generation_outcome(&mut d, json!({ "prompt": "loop", "seed": 1, "duration_sec": 2 }));
    assert!(done, "{first}");
    let mut filler = Filler::new(&disk.seen_from_here());
    filler.leave(0);
    d.result("crossfade_set", json!({ "duration_sec": 0 }));
    d.result("play", json!({ "track_id": first["track_id"] }));
    let passes = |d: &mut Daemon, n: usize| {
        for _ in 0..n {
            d.notification("playback_started", |p| p["track_id"] == first["track_id"]);
        }
    };
    passes(&mut d, 4);
    let said: Vec<Value> = d
        .backlog
        .iter()
        .filter(|v| v["method"] == "daemon_warning")
        .cloned()
        .collect();
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert_eq!(said[0]["params"]["code"], "CACHE_WRITE_ERROR");
    let message = said[0]["params"]["message"].as_str().unwrap();
    assert!(message.starts_with("the cache's disk has 0.0 MB free"), "{message}");
    assert!(
        !d.backlog
            .iter()
            .any(|v| v["method"] == "generation_started" && v["params"]["track_id"] != first["track_id"]),
        "nothing was made ahead: {:?}",
        d.backlog
    );

    filler.file.set_len(0).unwrap();
    let ahead = d.notification("generation_complete", |_| true);
    assert_ne!(ahead["track_id"], first["track_id"]);
    assert_eq!(d.cached_ids().len(), 2);
}
