//! Property tests on the request parser and dispatcher, in-process: any line, however
//! malformed, gets at most one reply and never desynchronises the replies after it.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lofi_daemon::audio_file::AudioFormat;
use lofi_daemon::backend::procedural::ProceduralBackend;
use lofi_daemon::cache::{Cache, CacheLimits};
use lofi_daemon::server::{spawn_writer, Server, ServerOptions};
use proptest::prelude::*;
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn server(dir: &std::path::Path) -> (Arc<Server>, Captured) {
    let captured = Captured::default();
    let (outbox, _writer, _) = spawn_writer(captured.clone());
    let options = ServerOptions {
        backend: Arc::new(ProceduralBackend::default()),
        stand_in: Arc::new(ProceduralBackend::default()),
        cache: Arc::new(Cache::open(dir).unwrap()),
        limits: CacheLimits::default(),
        format: AudioFormat::Wav,
        default_prompt: "lofi".into(),
        default_duration_sec: 1.0,
        backend_fallback: None,
        audio_device: Some("none".into()),
        volume: 0.3,
    };
    (Server::new(options, outbox), captured)
}

/// An output line as JSON; an id no f64 holds (echoed as the client spelled it) becomes its text.
fn parse_output_line(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|_| {
        let members: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
            serde_json::from_str(line).expect("every output line is JSON");
        let mut value = json!({});
        for (name, raw) in members {
            value[&name] = serde_json::from_str(raw.get()).unwrap_or_else(|_| json!(raw.get()));
        }
        value
    })
}

fn replies_until_sentinel(captured: &Captured) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).expect("output is UTF-8");
        let lines: Vec<Value> = text.lines().map(parse_output_line).collect();
        if lines.iter().any(|v| v["id"] == "sentinel") || Instant::now() > deadline {
            return lines.into_iter().filter(|v| v.get("method").is_none()).collect();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Every method the daemon answers, and two it does not.
fn methods() -> Vec<&'static str> {
    let mut methods = lofi_daemon::server::protocol::METHODS.to_vec();
    methods.extend(["nope", ""]);
    methods
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9./_ -]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4).prop_map(|m| json!(m)),
        ]
    })
}

fn arb_request() -> impl Strategy<Value = Vec<u8>> {
    let structured = (
        prop::sample::select(methods()),
        prop::collection::btree_map(
            prop::sample::select(
                &[
                    "prompt",
                    "seed",
                    "duration_sec",
                    "priority",
                    "track_id",
                    "enabled",
                    "strategy",
                    "presets",
                    "max_mb",
                    "max_tracks",
                    "format",
                    "level",
                    "x",
                ][..],
            ),
            arb_json(),
            0..4,
        ),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(method, params, id)| {
            let mut request = json!({ "jsonrpc": "2.0", "method": method, "params": params });
            if let Some(id) = id {
                request["id"] = json!(id);
            }
            request.to_string().into_bytes()
        });
    prop_oneof![
        structured,
        arb_json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn any_lines_then_a_request_are_answered_in_order(lines in prop::collection::vec(arb_request(), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let (server, captured) = server(dir.path());
        let mut expected_ids = Vec::new();
        for line in &lines {
            // Lines never contain a newline: the reader splits on them first.
            let line: Vec<u8> = line.iter().copied().filter(|&b| b != b'\n').collect();
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                if v.get("jsonrpc") == Some(&json!("2.0")) && v.get("method").is_some_and(Value::is_string) {
                    if let Some(id) = v.get("id") { expected_ids.push(id.clone()); }
                }
            }
            server.handle_line(&line);
        }
        server.handle_line(br#"{"jsonrpc":"2.0","method":"status","id":"sentinel"}"#);
        let replies = replies_until_sentinel(&captured);
        prop_assert_eq!(replies.last().map(|r| r["id"].clone()), Some(json!("sentinel")));
        for reply in &replies {
            prop_assert!(reply.get("result").is_some() != reply.get("error").is_some(), "{}", reply);
            if let Some(code) = reply["error"]["code"].as_i64() {
                prop_assert!((-32700..=-32000).contains(&code), "{}", reply);
                prop_assert!(reply["error"]["data"]["reason"].is_string(), "{}", reply);
            }
        }
        // Every valid request with an id got exactly one reply, in order.
        let answered: Vec<Value> = replies.iter().map(|r| r["id"].clone()).filter(|id| expected_ids.contains(id)).collect();
        prop_assert_eq!(&answered, &expected_ids);
        server.queue().shutdown();
    }
}

/// A JSON number in any of its spellings: sign, leading zero, fraction, exponent of either
/// case and sign, and more digits than u64 or f64 hold.
fn arb_number_spelling() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,30})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn numeric_ids_are_echoed_as_spelled(id in arb_number_spelling()) {
        let dir = tempfile::tempdir().unwrap();
        let (server, captured) = server(dir.path());
        server.handle_line(format!(r#"{{"jsonrpc":"2.0","method":"volume_get","id":{id}}}"#).as_bytes());
        server.handle_line(br#"{"jsonrpc":"2.0","method":"volume_get","id":"sentinel"}"#);
        replies_until_sentinel(&captured);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let suffix = format!(r#""id":{id}}}"#);
        prop_assert!(text.lines().any(|l| l.ends_with(&suffix)), "{} not echoed in {}", id, text);
        server.queue().shutdown();
    }
}

/// Lines a hostile client sends, through the real line reader (1 MiB cap): each gets one
/// reply or, for a notification, none, and the daemon answers the next request.
#[test]
fn hostile_lines_through_the_reader_are_answered_one_each() {
    let deep = |open: &str, close: &str, n: usize| format!("{}{}", open.repeat(n), close.repeat(n));
    let lines: Vec<Vec<u8>> = vec![
        b"\xff\xfe\xfd".to_vec(),
        b"{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":1\x00}".to_vec(),
        b"{\"jsonrpc\":\"2.0\",\"method\":\"st\\u0000atus\",\"id\":2}".to_vec(),
        b"\x00\x00\x00".to_vec(),
        vec![b'x'; 2 << 20],
        format!(
            r#"{{"jsonrpc":"2.0","method":"status","id":3,"params":{{"p":"{}"}}}}"#,
            "a".repeat(2 << 20)
        )
        .into_bytes(),
        deep("[", "]", 10_000).into_bytes(),
        format!(
            r#"{{"jsonrpc":"2.0","method":"status","id":4,"params":{{"a":{}}}}}"#,
            deep("{\"a\":", "}", 10_000)
        )
        .into_bytes(),
        br#"{"jsonrpc":"2.0","method":"status","id":[1]}"#.to_vec(),
        br#"{"jsonrpc":"2.0","method":"status","id":1e400}"#.to_vec(),
        br#"{"jsonrpc":"2.0","method":"status","id":5,"id":6}"#.to_vec(),
    ];
    let mut input = Vec::new();
    for line in &lines {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":\"sentinel\"}\n");
    let dir = tempfile::tempdir().unwrap();
    let (server, captured) = server(dir.path());
    server.serve(std::io::Cursor::new(input)).unwrap();
    let replies = replies_until_sentinel(&captured);
    // Every hostile line is answered once (none of them is a valid notification), then the sentinel.
    assert_eq!(replies.len(), lines.len() + 1, "{replies:#?}");
    assert_eq!(replies.last().unwrap()["result"]["version"], env!("CARGO_PKG_VERSION"));
    for reply in &replies[..lines.len()] {
        assert!(reply.get("result").is_some() != reply.get("error").is_some(), "{reply}");
    }
    let errors = replies.iter().filter(|r| r["error"]["code"].is_i64()).count();
    // All but the request with an id no f64 holds (echoed as sent) and the one whose id is
    // repeated (the last counts, as for any member) are refused.
    assert_eq!(errors, lines.len() - 2, "{replies:#?}");
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.lines().any(|l| l.ends_with(r#""id":1e400}"#)), "{text}");
    server.queue().shutdown();
}
