//! Stateful random test: two real daemons on one cache, driven through random sequences
//! of playlist, cache and transport operations, with invariants checked after every step:
//! both daemons alive (a panic in any thread exits the daemon), every request answered with
//! a result or a documented error, the playlist holds only cached tracks, `play` succeeds
//! whenever the cache holds a track, and a radio (adding segments to the shared cache on its
//! own) plays exactly while started and not stopped, never failing, and the playback
//! notifications tell one consistent story (no track starts before the one heard has ended);
//! visualizer subscriptions and crossfade lengths come and go among them.
//!
//! The same sequences run on the `ggml` backend (the fixture model), with idle spells among
//! them long enough for the daemon to hand its model back (`--keep-model 1`): the model is
//! handed back whenever a daemon has been idle without a radio, kept while a radio lives, and
//! a track made again after its deletion (maybe by the other daemon, maybe after a reload) is
//! the same audio, byte for byte.
//!
//! proptest draws the sequences (seeded by `PROPTEST_RNG_SEED`, else random, failures kept in
//! proptest-regressions/) and shrinks a failing one. The suite runs 4 × 500 operations on the
//! procedural backend and 2 × 100 on the model; `scripts/soak-stateful.sh` runs longer ones
//! (`LOFI_STATEFUL_CASES`, `LOFI_STATEFUL_OPS`, `LOFI_STATEFUL_MODEL_OPS`).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{quantized_fixture, tempdir, Daemon};
use lofi_daemon::server::protocol;
use proptest::prelude::*;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
enum Op {
    /// One of a few prompt/seed pairs, so later generations hit the cache.
    Generate {
        variant: u8,
        play: bool,
    },
    Play(Option<u8>),
    PlaylistAdd(u8),
    PlaylistRemove(u8),
    PlaylistClear,
    CacheDelete(u8),
    CacheClear,
    /// Tight limits evict on the next store; `None` lifts them.
    CacheLimit(Option<u8>),
    Skip,
    Stop,
    Pause,
    Resume,
    DeviceNone,
    /// A crossfade of 0 to 3 s (radio segments and bridges are long enough to crossfade).
    Crossfade(u8),
    /// The radio on one of a few prompts (it then adds segments to the shared cache by itself).
    RadioStart(u8),
    RadioPrompt(u8),
    RadioStop,
    /// The editor's visualizer (frames while audio plays), at a few rates.
    VisualizerSubscribe(u8),
    VisualizerUnsubscribe,
    /// No request for a while: 2.5 s, long enough for `--keep-model 1` to hand the model back.
    Idle,
}

/// An operation and the daemon (0 or 1) it is sent to.
type Step = (usize, Op);

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..6u8, any::<bool>()).prop_map(|(variant, play)| Op::Generate { variant, play }),
        4 => prop::option::of(any::<u8>()).prop_map(Op::Play),
        2 => any::<u8>().prop_map(Op::PlaylistAdd),
        1 => any::<u8>().prop_map(Op::PlaylistRemove),
        1 => Just(Op::PlaylistClear),
        2 => any::<u8>().prop_map(Op::CacheDelete),
        1 => Just(Op::CacheClear),
        1 => prop::option::of(1..4u8).prop_map(Op::CacheLimit),
        2 => Just(Op::Skip),
        1 => Just(Op::Stop),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        1 => Just(Op::DeviceNone),
        1 => any::<u8>().prop_map(Op::Crossfade),
        1 => any::<u8>().prop_map(Op::RadioStart),
        1 => any::<u8>().prop_map(Op::RadioPrompt),
        1 => Just(Op::RadioStop),
        1 => any::<u8>().prop_map(Op::VisualizerSubscribe),
        1 => Just(Op::VisualizerUnsubscribe),
    ]
}

/// The model backend's sequences: the same operations, and idle spells.
fn arb_model_op() -> impl Strategy<Value = Op> {
    prop_oneof![15 => arb_op(), 1 => Just(Op::Idle)]
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct World {
    daemons: Vec<Daemon>,
    /// Every track id a generation produced; ops pick from it by index.
    known: Vec<String>,
    /// Each generated track's file contents, hashed, by id: made again, it must be the same.
    made: HashMap<String, u64>,
    /// Whether each daemon's radio should be on.
    radio_on: Vec<bool>,
    /// The track each daemon's notifications say is playing (started, not yet ended).
    playing: Vec<Option<String>>,
    /// The daemons run the model backend, which hands its model back when unused.
    on_model: bool,
    ops: usize,
}

impl World {
    fn new(dir: &Path, args: &[&str], on_model: bool) -> World {
        let mut args = args.to_vec();
        args.extend(["--idle-timeout", "0"]);
        let daemons = (0..2).map(|_| Daemon::start(dir, &args)).collect();
        World {
            daemons,
            known: Vec::new(),
            made: HashMap::new(),
            radio_on: vec![false; 2],
            playing: vec![None; 2],
            on_model,
            ops: 0,
        }
    }

    /// A known id (or, when none is known yet, one that never exists).
    fn pick(&self, i: u8) -> String {
        if self.known.is_empty() {
            "deadbeef".into()
        } else {
            self.known[i as usize % self.known.len()].clone()
        }
    }

    fn cached(&mut self, d: usize) -> BTreeSet<String> {
        self.daemons[d].cached_ids().into_iter().collect()
    }

    /// The playlist of daemon `d` when it plays it looping, every track cached (no radio, no
    /// stream): what must go on playing while nothing is asked of it.
    fn looping(&mut self, d: usize) -> Option<Vec<Value>> {
        let status = self.daemons[d].result("status", json!({}));
        let tracks = self.daemons[d].result("playlist_get", json!({}))["tracks"]
            .as_array()?
            .clone();
        let cached = self.cached(d);
        let playing = status["playback"]["state"] == "playing" && status["playback"]["loop"] == true;
        let all_cached = tracks.iter().all(|t| t.as_str().is_some_and(|t| cached.contains(t)));
        (playing && status["radio"].is_null() && !tracks.is_empty() && all_cached).then_some(tracks)
    }

    /// Waits for a generation to end and remembers its id and its audio, which must be what
    /// the same id held before (generated by either daemon, before or after a model reload).
    fn await_generation(&mut self, d: usize, track_id: &str) -> Result<(), TestCaseError> {
        let done = self.daemons[d].notification("generation_complete", |p| p["track_id"] == track_id);
        prop_assert_eq!(&done["track_id"], track_id);
        if !self.known.iter().any(|k| k == track_id) {
            self.known.push(track_id.to_owned());
        }
        // The other daemon may have evicted it since (its radio stores segments).
        if let Ok(bytes) = std::fs::read(done["path"].as_str().unwrap()) {
            let hash = hash_of(&bytes);
            let before = *self.made.entry(track_id.to_owned()).or_insert(hash);
            prop_assert_eq!(before, hash, "daemon {}: track {} made again differs", d, track_id);
        }
        Ok(())
    }

    /// After an idle spell the model is handed back, unless a radio holds it or the daemon
    /// generated meanwhile (a prefetch: then within the keep time after it ends; prefetches
    /// one after another may keep it busy, so the wait is bounded).
    fn check_model_handed_back(&mut self, d: usize) -> Result<(), TestCaseError> {
        let mut deadline = Instant::now() + Duration::from_secs(4);
        let give_up = Instant::now() + Duration::from_secs(30);
        while Instant::now() < give_up {
            let status = self.daemons[d].result("status", json!({}));
            let loaded = status["model"]["loaded"].as_bool();
            prop_assert!(loaded.is_some(), "daemon {d}: status.model.loaded missing: {status}");
            if self.radio_on[d] {
                prop_assert_eq!(
                    loaded,
                    Some(true),
                    "daemon {}: handed back under a radio: {}; since the last step: {:?}",
                    d,
                    status,
                    self.daemons[d].backlog
                );
                return Ok(());
            }
            if loaded == Some(false) {
                return Ok(());
            }
            let backlog = &mut self.daemons[d].backlog;
            let generated = backlog.iter().any(|v| v["method"] == "generation_complete");
            backlog.retain(|v| v["method"] != "generation_complete");
            let busy = status["generation"]["active"] == true || status["queue_length"] != 0;
            if generated || busy {
                deadline = Instant::now() + Duration::from_secs(4);
            }
            prop_assert!(
                Instant::now() < deadline,
                "daemon {d} kept its model 4 s after its last use, no radio: {status}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn apply(&mut self, (d, op): &Step) -> Result<(), TestCaseError> {
        let d = *d;
        let cached_before = self.cached(d);
        let (method, params, allowed): (&str, Value, &[i64]) = match op {
            Op::Generate { variant, play } => (
                "generate",
                json!({ "prompt": format!("lofi test {}", variant % 3), "seed": variant / 3,
                        "duration_sec": 1.0, "play": play }),
                &[],
            ),
            Op::Play(None) => ("play", json!({}), &[]),
            Op::Play(Some(i)) => ("play", json!({ "track_id": self.pick(*i) }), &[-32002]),
            Op::PlaylistAdd(i) => ("playlist_add", json!({ "track_id": self.pick(*i) }), &[-32002]),
            Op::PlaylistRemove(i) => ("playlist_remove", json!({ "track_id": self.pick(*i) }), &[-32002]),
            Op::PlaylistClear => ("playlist_clear", json!({}), &[]),
            Op::CacheDelete(i) => ("cache_delete", json!({ "track_id": self.pick(*i) }), &[-32002, -32602]),
            Op::CacheClear => ("cache_clear", json!({}), &[]),
            Op::CacheLimit(n) => (
                "cache_config",
                json!({ "max_tracks": n.map_or(Value::Null, |n| json!(n)) }),
                &[],
            ),
            Op::Skip => ("skip", json!({}), &[-32008]),
            Op::Stop => ("stop", json!({}), &[]),
            Op::Pause => ("pause", json!({}), &[]),
            Op::Resume => ("resume", json!({}), &[]),
            Op::DeviceNone => ("audio_device_set", json!({ "device": "none" }), &[]),
            Op::Crossfade(s) => ("crossfade_set", json!({ "duration_sec": s % 4 }), &[]),
            Op::RadioStart(v) => ("radio_start", json!({ "prompt": format!("radio {}", v % 3) }), &[]),
            Op::RadioPrompt(v) => (
                "radio_prompt",
                json!({ "prompt": format!("radio {}", v % 3) }),
                &[-32600],
            ),
            Op::RadioStop => ("radio_stop", json!({}), &[]),
            Op::VisualizerSubscribe(fps) => ("visualizer_subscribe", json!({ "fps": 1 + fps % 30 }), &[]),
            Op::VisualizerUnsubscribe => ("visualizer_unsubscribe", json!({}), &[]),
            Op::Idle => {
                let looping: Vec<Option<Vec<Value>>> = (0..self.daemons.len()).map(|d| self.looping(d)).collect();
                std::thread::sleep(Duration::from_millis(2500));
                self.ops += 1;
                for (d, playlist_before) in looping.into_iter().enumerate() {
                    self.check_model_handed_back(d)?;
                    // Left alone, a looping playlist of cached tracks plays on, unless one of its
                    // tracks left it (evicted by a store: the other daemon's, or a prefetch's;
                    // prefetches also add tracks, so its length tells nothing). Tracks of 1 s
                    // never crossfade: playback used to stop at the first one's end.
                    let Some(before) = playlist_before else { continue };
                    let state = self.daemons[d].result("status", json!({}))["playback"]["state"].clone();
                    let after = self.daemons[d].result("playlist_get", json!({}))["tracks"].clone();
                    let kept = before.iter().all(|t| after.as_array().unwrap().contains(t));
                    prop_assert!(
                        state == "playing" || !kept,
                        "daemon {d}: a looping playlist {before:?} stopped while left alone ({state}, {after})"
                    );
                }
                return self.check_invariants();
            }
        };
        let reply = self.daemons[d].call(method, params);
        self.ops += 1;
        if let Some(error) = reply.get("error") {
            let code = error["code"].as_i64().unwrap_or(0);
            prop_assert!(
                allowed.contains(&code),
                "daemon {d}: {op:?} answered an undocumented error {error}"
            );
        } else {
            prop_assert!(reply.get("result").is_some(), "daemon {d}: {op:?}: {reply}");
        }
        let result = &reply["result"];
        // `play` must play whenever the cache holds a track; with none it generates one.
        if let Op::Play(None) = op {
            prop_assert!(reply.get("error").is_none(), "daemon {d}: play failed: {reply}");
            if cached_before.is_empty() {
                if let Some(id) = result["track_id"].as_str().filter(|_| result["state"] == "generating") {
                    let id = id.to_owned();
                    self.await_generation(d, &id)?;
                }
            } else {
                prop_assert_ne!(
                    &result["state"],
                    "generating",
                    "daemon {}: cache had {:?}",
                    d,
                    cached_before
                );
            }
        }
        if let Op::Generate { .. } = op {
            let id = result["track_id"].as_str().unwrap().to_owned();
            self.await_generation(d, &id)?;
        }
        match op {
            Op::RadioStart(_) => self.radio_on[d] = true,
            // Stopping, or playing a track by id, leaves the radio.
            Op::RadioStop | Op::Stop => self.radio_on[d] = false,
            Op::Play(Some(_)) if reply.get("error").is_none() => self.radio_on[d] = false,
            // Refused exactly when no radio plays.
            Op::RadioPrompt(_) => prop_assert_eq!(reply.get("error").is_some(), !self.radio_on[d]),
            _ => {}
        }
        self.check_invariants()
    }

    fn check_invariants(&mut self) -> Result<(), TestCaseError> {
        for d in 0..self.daemons.len() {
            let daemon = &mut self.daemons[d];
            prop_assert!(
                daemon.child.try_wait().unwrap().is_none(),
                "daemon {d} exited after {} ops",
                self.ops
            );
            for v in daemon.backlog.iter().filter(|v| v.get("method").is_some()) {
                let method = v["method"].as_str().unwrap_or_default();
                prop_assert!(protocol::NOTIFICATIONS.contains(&method), "daemon {d} sent {v}");
                let failed = method == "radio_stopped" && !v["params"]["message"].is_null();
                prop_assert!(!failed, "daemon {d}: the radio failed: {v}");
                let followed = follow_playback(&mut self.playing[d], v);
                prop_assert!(
                    followed.is_ok(),
                    "daemon {d}: {followed:?}; notifications since the last step: {:?}",
                    daemon.backlog
                );
            }
            // Responses are consumed as they come; what is left is notifications already checked.
            daemon.backlog.clear();
            // A track is in the playlist only while it is in the cache, or generating as it plays
            // (asked to play, it streams). The cache may change between the calls (a prefetch
            // stored elsewhere, the stream stored), so it is read on both sides.
            // The radio plays exactly while it was started and not stopped.
            let status = self.daemons[d].result("status", json!({}));
            prop_assert_eq!(status["radio"].is_null(), !self.radio_on[d], "daemon {}: {}", d, status);
            // The model backend never falls back to procedural on its own.
            let backend = if self.on_model { "ggml" } else { "procedural" };
            prop_assert_eq!(&status["model"]["backend"], backend, "daemon {}: {}", d, status);
            let before = self.cached(d);
            let playlist = self.daemons[d].result("playlist_get", json!({}));
            let after = self.cached(d);
            let generating = status["generation"]["track_id"].as_str();
            for id in playlist["tracks"].as_array().unwrap() {
                let id = id.as_str().unwrap();
                prop_assert!(
                    before.contains(id) || after.contains(id) || generating == Some(id),
                    "daemon {d}: playlist holds {id}, which is not in the cache {after:?}"
                );
            }
            if self.on_model && self.radio_on[d] {
                self.check_radio_queue(d, &status["radio"]["prompt"], &playlist)?;
            }
        }
        Ok(())
    }

    /// A model's radio queues only its current prompt's music: a new prompt takes what was
    /// made for the last one out of the playlist, and what is still on its way never joins.
    fn check_radio_queue(&mut self, d: usize, prompt: &Value, playlist: &Value) -> Result<(), TestCaseError> {
        let list = self.daemons[d].result("cache_list", json!({}));
        let prompts: HashMap<&str, &Value> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["track_id"].as_str().unwrap(), &t["prompt"]))
            .collect();
        // With nothing heard (the radio ran dry or the listener skipped past its end) its
        // next segment plays at once when it comes: what the playlist holds was played.
        let tracks = playlist["tracks"].as_array().unwrap();
        let Some(heard) = tracks.iter().position(|t| *t == playlist["current"]) else {
            return Ok(());
        };
        for id in &tracks[heard + 1..] {
            let made_for = prompts.get(id.as_str().unwrap()).copied();
            let radio_track = made_for
                .and_then(Value::as_str)
                .is_some_and(|p| p.starts_with("radio "));
            prop_assert!(
                !radio_track || made_for == Some(prompt),
                "daemon {d}: {id} ({made_for:?}) queued on the radio's {prompt}: {playlist}"
            );
        }
        Ok(())
    }
}

/// Follows a daemon's playback notifications, in the order sent: a track starts only when
/// none plays (a skip ends the one it leaves first), and ends, pauses or resumes only while it
/// plays; `playback_ended` with reason "error" may also name a queued track dropped unheard.
fn follow_playback(playing: &mut Option<String>, notification: &Value) -> Result<(), String> {
    let params = &notification["params"];
    let Some(track) = params["track_id"].as_str() else {
        return Ok(());
    };
    let names_playing = playing.as_deref() == Some(track);
    match notification["method"].as_str().unwrap_or_default() {
        "playback_started" if playing.is_none() => *playing = Some(track.to_owned()),
        "playback_ended" if names_playing => *playing = None,
        "playback_ended" if params["reason"] == "error" => {}
        "playback_paused" | "playback_resumed" if names_playing => {}
        "playback_started" | "playback_ended" | "playback_paused" | "playback_resumed" => {
            return Err(format!("{notification} while the notifications say {playing:?} plays"));
        }
        _ => {}
    }
    Ok(())
}

/// A process's resident memory in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn hash_of(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// Runs the steps on two new daemons: the procedural backend, or the model's.
fn run(steps: &[Step], on_model: bool) -> Result<(), TestCaseError> {
    let dir = tempdir();
    let mut args = Vec::new();
    if on_model {
        let model = quantized_fixture(dir.path(), lofi_convert::FileType::Q8_0);
        args = ["--backend", "ggml", "--model", model.to_str().unwrap()]
            .map(String::from)
            .to_vec();
        // One compute thread a daemon: GGML's spinning barriers crawl when threads outnumber cores.
        args.extend(["--threads", "1", "--keep-model", "1"].map(String::from));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut world = World::new(dir.path(), &args, on_model);
    let started = Instant::now();
    let mut rss_at_start = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        world.apply(step)?;
        if i == 0 {
            rss_at_start = world.daemons.iter().map(|d| rss_kb(d.child.id())).collect();
        }
    }
    let rss_at_end: Vec<u64> = world.daemons.iter().map(|d| rss_kb(d.child.id())).collect();
    // Read by scripts/soak-stateful.sh.
    eprintln!(
        "stateful{}: {} ops in {:.1} s, {} tracks made, daemon RSS kB {:?} -> {:?}",
        if on_model { " (model)" } else { "" },
        world.ops,
        started.elapsed().as_secs_f64(),
        world.known.len(),
        rss_at_start,
        rss_at_end
    );
    Ok(())
}

/// `cases` cases (LOFI_STATEFUL_CASES overrides), shrinking at most `max_shrink_iters` times, a
/// failing case kept beside the source.
fn config(cases: usize, max_shrink_iters: u32) -> ProptestConfig {
    ProptestConfig {
        cases: env_usize("LOFI_STATEFUL_CASES", cases) as u32,
        max_shrink_iters,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource(
            "regressions",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(4, 200))]

    #[test]
    fn two_daemons_on_one_cache_keep_their_invariants(
        steps in prop::collection::vec((0..2usize, arb_op()), env_usize("LOFI_STATEFUL_OPS", 500))
    ) {
        run(&steps, false)?;
    }
}

proptest! {
    #![proptest_config(config(2, 8))] // a case takes up to a minute here: few shrinks

    #[test]
    fn two_model_daemons_handing_their_model_back_keep_their_invariants(
        steps in prop::collection::vec((0..2usize, arb_model_op()), env_usize("LOFI_STATEFUL_MODEL_OPS", 100))
    ) {
        run(&steps, true)?;
    }
}
