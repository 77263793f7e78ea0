//! Stateful random test: two real daemons on one cache, driven through random sequences
//! of playlist, cache and transport operations, with invariants checked after every step:
//! both daemons alive (a panic in any thread exits the daemon), every request answered with
//! a result or a documented error, the playlist holds only cached tracks, `play` succeeds
//! whenever the cache holds a track, and a radio (adding segments to the shared cache on its
//! own) plays exactly while started and not stopped, never failing; visualizer subscriptions
//! come and go among them.
//!
//! proptest draws the sequences (seeded by `PROPTEST_RNG_SEED`, else random, failures kept in
//! proptest-regressions/) and shrinks a failing one. The suite runs 4 × 500 operations;
//! `scripts/soak-stateful.sh` runs longer ones (`LOFI_STATEFUL_CASES`, `LOFI_STATEFUL_OPS`).

mod common;

use std::collections::BTreeSet;

use common::{tempdir, Daemon};
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
    /// The radio on one of a few prompts (it then adds segments to the shared cache by itself).
    RadioStart(u8),
    RadioPrompt(u8),
    RadioStop,
    /// The editor's visualizer (frames while audio plays), at a few rates.
    VisualizerSubscribe(u8),
    VisualizerUnsubscribe,
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
        1 => any::<u8>().prop_map(Op::RadioStart),
        1 => any::<u8>().prop_map(Op::RadioPrompt),
        1 => Just(Op::RadioStop),
        1 => any::<u8>().prop_map(Op::VisualizerSubscribe),
        1 => Just(Op::VisualizerUnsubscribe),
    ]
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct World {
    daemons: Vec<Daemon>,
    /// Every track id a generation produced; ops pick from it by index.
    known: Vec<String>,
    /// Whether each daemon's radio should be on.
    radio_on: Vec<bool>,
    ops: usize,
}

impl World {
    fn new(dir: &std::path::Path) -> World {
        let daemons = (0..2).map(|_| Daemon::start(dir, &["--idle-timeout", "0"])).collect();
        World {
            daemons,
            known: Vec::new(),
            radio_on: vec![false; 2],
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
        let list = self.daemons[d].result("cache_list", json!({}));
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| t["track_id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits for a generation to end (complete, or error) and remembers its id.
    fn await_generation(&mut self, d: usize, track_id: &str) {
        let done = self.daemons[d].notification("generation_complete", |p| p["track_id"] == track_id);
        assert_eq!(done["track_id"], track_id);
        if !self.known.iter().any(|k| k == track_id) {
            self.known.push(track_id.to_owned());
        }
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
            Op::RadioStart(v) => ("radio_start", json!({ "prompt": format!("radio {}", v % 3) }), &[]),
            Op::RadioPrompt(v) => (
                "radio_prompt",
                json!({ "prompt": format!("radio {}", v % 3) }),
                &[-32600],
            ),
            Op::RadioStop => ("radio_stop", json!({}), &[]),
            Op::VisualizerSubscribe(fps) => ("visualizer_subscribe", json!({ "fps": 1 + fps % 30 }), &[]),
            Op::VisualizerUnsubscribe => ("visualizer_unsubscribe", json!({}), &[]),
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
                    self.await_generation(d, &id);
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
            self.await_generation(d, &id);
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
            }
            // Responses are consumed as they come; what is left is notifications already checked.
            daemon.backlog.clear();
            // A track is in the playlist only while it is in the cache, or generating as it plays
            // (asked to play, it streams). The cache may change between the calls (a prefetch
            // stored elsewhere, the stream stored), so it is read on both sides.
            // The radio plays exactly while it was started and not stopped.
            let status = self.daemons[d].result("status", json!({}));
            prop_assert_eq!(status["radio"].is_null(), !self.radio_on[d], "daemon {}: {}", d, status);
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
        }
        Ok(())
    }
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

fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let dir = tempdir();
    let mut world = World::new(dir.path());
    let started = std::time::Instant::now();
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
        "stateful: {} ops in {:.1} s, {} tracks made, daemon RSS kB {:?} -> {:?}",
        world.ops,
        started.elapsed().as_secs_f64(),
        world.known.len(),
        rss_at_start,
        rss_at_end
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: env_usize("LOFI_STATEFUL_CASES", 4) as u32,
        max_shrink_iters: 200,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn two_daemons_on_one_cache_keep_their_invariants(
        steps in prop::collection::vec((0..2usize, arb_op()), env_usize("LOFI_STATEFUL_OPS", 500))
    ) {
        run(&steps)?;
    }
}
