//! The JSON-RPC surface of the real binary: every method, every error code, framing.

mod common;

use std::time::Duration;

use common::{tempdir, Daemon};
use serde_json::{json, Value};

fn code(error: &Value) -> i64 {
    error["code"].as_i64().unwrap()
}

#[test]
fn generation_methods_and_events() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let ack = d.result(
        "generate",
        json!({ "prompt": "rainy jazz", "seed": 42, "duration_sec": 4 }),
    );
    assert_eq!(ack["status"], "queued");
    assert_eq!(ack["position"], 0);
    let id = ack["track_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 8);

    let started = d.notification("generation_started", |p| p["track_id"] == id);
    assert_eq!(started["track_id"], id.as_str());
    let progress = d.notification("generation_progress", |p| p["track_id"] == id);
    for key in ["percent", "tokens_generated", "tokens_estimated", "eta_sec"] {
        assert!(progress.get(key).is_some(), "progress lacks {key}: {progress}");
    }
    assert!(progress["percent"].as_u64().unwrap() <= 99);
    assert_eq!(progress["tokens_estimated"], 200);
    let done = d.notification("generation_complete", |p| p["track_id"] == id);
    for key in [
        "path",
        "duration_sec",
        "sample_rate",
        "format",
        "prompt",
        "seed",
        "tokens_actual",
        "generation_time_sec",
    ] {
        assert!(done.get(key).is_some(), "complete lacks {key}: {done}");
    }
    assert_eq!(done["seed"], 42);
    assert_eq!(done["sample_rate"], 32000);
    assert_eq!(done["duration_sec"], 4.0);
    let path = done["path"].as_str().unwrap();
    assert!(std::path::Path::new(path).is_file());

    // Same inputs: served from the cache at once, with the same id.
    let again = d.result(
        "generate",
        json!({ "prompt": "rainy jazz", "seed": 42, "duration_sec": 4 }),
    );
    assert_eq!(
        (again["status"].as_str(), again["track_id"].as_str()),
        (Some("cached"), Some(id.as_str()))
    );
    let cached = d.notification("generation_complete", |p| p["track_id"] == id);
    assert_eq!(cached["cached"], true);

    // A null seed draws one and reports it.
    let random = d.generate(json!({ "prompt": "x", "seed": null, "duration_sec": 2 }));
    assert!(random["seed"].as_u64().is_some());

    let list = d.result("cache_list", json!({}));
    assert_eq!(list.as_array().unwrap().len(), 2);
    let stats = d.result("cache_stats", json!(null));
    assert_eq!(stats["count"], 2);
    assert!(stats["size_bytes"].as_u64().unwrap() > 100_000);

    let status = d.result("status", json!({}));
    assert_eq!(status["model"]["backend"], "procedural");
    assert_eq!(status["generation"]["active"], false);
    assert_eq!(status["playback"]["state"], "stopped");

    let deleted = d.result("cache_delete", json!({ "track_id": id }));
    assert_eq!(deleted["deleted"], true);
    assert!(!std::path::Path::new(path).exists());
    let err = d.error("cache_delete", json!({ "track_id": id }));
    assert_eq!(
        (code(&err), err["data"]["reason"].as_str()),
        (-32002, Some("INVALID_TRACK_ID"))
    );
    assert_eq!(d.result("cache_clear", json!({}))["deleted"], 1);
    assert_eq!(d.result("cache_stats", json!({}))["count"], 0);
}

#[test]
fn queue_priority_cancel_and_clear() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    // A long first job keeps the worker busy while the queue is inspected.
    let first = d.result("generate", json!({ "prompt": "long", "seed": 1, "duration_sec": 300 }));
    d.notification("generation_started", |p| p["track_id"] == first["track_id"]);
    let a = d.result("generate", json!({ "prompt": "a", "seed": 1, "duration_sec": 2 }));
    let b = d.result("generate", json!({ "prompt": "b", "seed": 1, "duration_sec": 2 }));
    let c = d.result(
        "generate",
        json!({ "prompt": "c", "seed": 1, "duration_sec": 2, "priority": "high" }),
    );
    assert_eq!(
        (a["position"].as_u64(), b["position"].as_u64(), c["position"].as_u64()),
        (Some(1), Some(2), Some(1))
    );

    let q = d.result("queue_status", json!({}));
    assert_eq!(q["current"]["track_id"], first["track_id"]);
    let pending: Vec<&Value> = q["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["track_id"])
        .collect();
    assert_eq!(pending, vec![&c["track_id"], &a["track_id"], &b["track_id"]]);
    assert_eq!(q["prefetch_pending"], false);

    // Cancelling the active generation is refused (README, Errors: GENERATION_IN_PROGRESS).
    let err = d.error("queue_cancel", json!({ "track_id": first["track_id"] }));
    assert_eq!(err["code"], -32001);
    assert_eq!(err["message"], "Cannot cancel active generation");
    assert_eq!(
        err["data"],
        json!({ "track_id": first["track_id"], "reason": "GENERATION_IN_PROGRESS" })
    );

    let ok = d.result("queue_cancel", json!({ "track_id": a["track_id"] }));
    assert_eq!(ok, json!({ "cancelled": true, "track_id": a["track_id"] }));
    let err = d.error("queue_cancel", json!({ "track_id": a["track_id"] }));
    assert_eq!(err["data"]["reason"], "INVALID_TRACK_ID");

    assert_eq!(d.result("queue_clear", json!({}))["cleared"], 2);
    let q = d.result("queue_status", json!({}));
    assert_eq!(q["pending"], json!([]));
    assert_eq!(d.result("status", json!({}))["generation"]["active"], true);
}

#[test]
fn every_error_code() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let cases: Vec<(&[u8], i64, &str)> = vec![
        (b"{not json\n", -32700, "PARSE_ERROR"),
        (b"\xff\xfe\x00binary\n", -32700, "PARSE_ERROR"),
        (b"[1,2]\n", -32600, "INVALID_REQUEST"),
        (b"42\n", -32600, "INVALID_REQUEST"),
        (
            br#"{"jsonrpc":"1.0","method":"status","id":1}"#,
            -32600,
            "INVALID_REQUEST",
        ),
        (br#"{"jsonrpc":"2.0","method":7,"id":1}"#, -32600, "INVALID_REQUEST"),
        (
            br#"{"jsonrpc":"2.0","method":"warp","id":1}"#,
            -32601,
            "METHOD_NOT_FOUND",
        ),
        (
            br#"{"jsonrpc":"2.0","method":"status","params":[1],"id":1}"#,
            -32602,
            "INVALID_PARAMS",
        ),
    ];
    for (line, expected_code, reason) in cases {
        let mut line = line.to_vec();
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        d.send_raw(&line);
        let reply = d.read(common::timeout()).expect("reply");
        assert_eq!(
            reply["error"]["code"],
            expected_code,
            "{}",
            String::from_utf8_lossy(&line)
        );
        assert_eq!(reply["error"]["data"]["reason"], reason);
    }
    // Invalid params name the offending field.
    for (params, field) in [
        (json!({ "duration_sec": "long" }), "duration_sec"),
        (json!({ "duration_sec": 0.5 }), "duration_sec"),
        (json!({ "duration_sec": 10_000 }), "duration_sec"),
        (json!({ "seed": -1 }), "seed"),
        (json!({ "seed": 1.5 }), "seed"),
        (json!({ "seed": 9_007_199_254_740_992u64 }), "seed"),
        (json!({ "priority": "urgent" }), "priority"),
        (json!({ "prompt": "x".repeat(1001) }), "prompt"),
        (json!({ "promt": "typo" }), "promt"),
    ] {
        let err = d.error("generate", params.clone());
        assert_eq!(
            (code(&err), err["data"]["field"].as_str()),
            (-32602, Some(field)),
            "{params}: {err}"
        );
    }
    let err = d.error("queue_cancel", json!({}));
    assert_eq!(err["data"]["field"], "track_id");
    let err = d.error("status", json!({ "verbose": true }));
    assert_eq!(err["data"]["field"], "verbose");
    // Path tricks never reach the filesystem.
    for bad in ["../../../etc/passwd", "ABCDEF12", "abc", "/tmp/x.wav", "0000000g"] {
        for method in ["cache_delete", "queue_cancel"] {
            let err = d.error(method, json!({ "track_id": bad }));
            assert_eq!(
                (code(&err), err["data"]["reason"].as_str()),
                (-32002, Some("INVALID_TRACK_ID")),
                "{method} {bad}"
            );
        }
    }
    assert_eq!(
        d.error("cache_delete", json!({ "track_id": "0badc0de" }))["data"]["reason"],
        "INVALID_TRACK_ID"
    );
    // Playback methods validate their params and name what is wrong.
    let cases = [
        ("volume_set", json!({ "level": 1.5 }), -32602, "level"),
        ("volume_set", json!({}), -32602, "level"),
        ("crossfade_set", json!({ "duration_sec": -1 }), -32602, "duration_sec"),
        ("audio_device_set", json!({ "device": 3 }), -32602, "device"),
        ("play", json!({ "track_id": "../x" }), -32002, "track_id"),
        ("playlist_add", json!({ "track_id": "ZZ" }), -32002, "track_id"),
        ("playback_config", json!({ "loop": "yes" }), -32602, "loop"),
    ];
    for (method, params, expected, field) in cases {
        let err = d.error(method, params.clone());
        assert_eq!(
            (code(&err), err["data"]["field"].as_str()),
            (expected, Some(field)),
            "{method} {params}: {err}"
        );
    }
    for (method, params) in [
        ("play", json!({ "track_id": "0badc0de" })),
        ("playlist_add", json!({ "track_id": "0badc0de" })),
        ("playlist_remove", json!({ "track_id": "0badc0de" })),
    ] {
        assert_eq!(
            d.error(method, params)["data"]["reason"],
            "INVALID_TRACK_ID",
            "{method}"
        );
    }
    let err = d.error("skip", json!({}));
    assert_eq!(
        (code(&err), err["data"]["reason"].as_str()),
        (-32008, Some("AUDIO_PLAYBACK_ERROR"))
    );
    let err = d.error("audio_device_set", json!({ "device": "no such device" }));
    assert_eq!(
        (code(&err), err["data"]["reason"].as_str()),
        (-32007, Some("AUDIO_DEVICE_ERROR"))
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("no audio output device named"),
        "{err}"
    );
    // A bad cache dir gives CACHE_WRITE_ERROR on store, and the daemon keeps serving.
    let ro = dir.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let mut blocked = Daemon::start(&ro, &[]);
    blocked.result("status", json!({})); // the daemon has created its cache dir
    let cache = blocked.cache_dir.clone();
    std::fs::remove_dir_all(&cache).unwrap();
    std::fs::write(&cache, b"a file where the cache dir should be").unwrap();
    let ack = blocked.result("generate", json!({ "prompt": "x", "seed": 1, "duration_sec": 1 }));
    let failed = blocked.notification("generation_error", |p| p["track_id"] == ack["track_id"]);
    assert_eq!(failed["code"], "CACHE_WRITE_ERROR");
    assert!(failed["message"]
        .as_str()
        .unwrap()
        .contains("cannot write to the cache"));
    blocked.result("status", json!({}));
}

#[test]
fn framing_survives_garbage_and_never_desyncs() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    // A 3 MB line, binary noise, blank lines, a notification, and requests split and
    // merged across writes: every request still gets exactly its own reply, in order.
    let mut huge = vec![b'x'; 3 << 20];
    huge.push(b'\n');
    d.send_raw(&huge);
    let reply = d.read(common::timeout()).unwrap();
    assert_eq!(reply["error"]["code"], -32600);
    assert_eq!(reply["id"], Value::Null);
    d.send_raw(b"\n\n   \n");
    d.send_raw(br#"{"jsonrpc":"2.0","method":"queue_clear"}"#);
    d.send_raw(b"\n");
    let merged = concat!(
        r#"{"jsonrpc":"2.0","method":"status","id":"a"}"#,
        "\n",
        r#"{"jsonrpc":"2.0","method":"cache_stats","id":"b"}"#,
        "\n",
        r#"{"jsonrpc":"2.0","meth"#
    );
    d.send_raw(merged.as_bytes());
    std::thread::sleep(Duration::from_millis(50));
    d.send_raw(b"od\":\"queue_status\",\"id\":\"c\"}\n");
    let ids: Vec<Value> = (0..3)
        .map(|_| d.read(common::timeout()).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("a"), json!("b"), json!("c")]);
    // Notifications (no id) are never answered, even when wrong.
    d.send_raw(b"{\"jsonrpc\":\"2.0\",\"method\":\"warp\"}\n");
    d.send_raw(b"{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":99}\n");
    assert_eq!(d.read(common::timeout()).unwrap()["id"], 99);
}

#[test]
fn prefetch_and_cache_config() {
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    let cfg = d.result(
        "prefetch_config",
        json!({ "enabled": false, "strategy": "preset_cycle", "presets": ["a", "b"] }),
    );
    assert_eq!(
        cfg,
        json!({ "enabled": false, "strategy": "preset_cycle", "presets": ["a", "b"] })
    );
    let err = d.error("prefetch_config", json!({ "strategy": "shuffle" }));
    assert_eq!(err["data"]["field"], "strategy");
    let err = d.error("prefetch_config", json!({ "strategy": "random_preset", "presets": [] }));
    assert_eq!(err["data"]["field"], "presets");

    for seed in 0..3 {
        d.generate(json!({ "prompt": "evict me", "seed": seed, "duration_sec": 20 }));
        std::thread::sleep(Duration::from_millis(1100)); // distinct created_at seconds
    }
    let cfg = d.result("cache_config", json!({ "max_tracks": 2 }));
    assert_eq!(
        (cfg["max_tracks"].as_u64(), cfg["evicted"].as_u64()),
        (Some(2), Some(1))
    );
    let seeds: Vec<u64> = d
        .result("cache_list", json!({}))
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, vec![2, 1], "the least recently used track goes first");
    let err = d.error("cache_config", json!({ "max_mb": -1 }));
    assert_eq!(err["data"]["field"], "max_mb");
    // Size limit: 20 s of stereo WAV is ~2.5 MB, so 3 MB (the least is 1) keeps one track.
    let err = d.error("cache_config", json!({ "max_mb": 0.1 }));
    assert_eq!(err["data"]["field"], "max_mb");
    let cfg = d.result("cache_config", json!({ "max_mb": 3, "max_tracks": null }));
    assert_eq!(cfg["evicted"], 1);
    assert_eq!(d.result("cache_stats", json!({}))["count"], 1);
}
