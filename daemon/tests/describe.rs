//! The plugin's `lua/lofi/described.lua` is what `lofi-daemon describe --lua` prints now, and
//! every method it lists is one the daemon answers.

mod common;

use common::{tempdir, Daemon};
use serde_json::{json, Value};

#[test]
fn the_committed_lua_module_is_up_to_date() {
    let out = common::daemon_command().args(["describe", "--lua"]).output().unwrap();
    assert!(out.status.success());
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua/lofi/described.lua");
    let committed = std::fs::read_to_string(committed).unwrap();
    assert!(
        String::from_utf8(out.stdout).unwrap() == committed,
        "lua/lofi/described.lua is out of date: target/debug/lofi-daemon describe --lua > lua/lofi/described.lua"
    );
}

#[test]
fn every_listed_method_is_answered_and_no_other() {
    let out = common::daemon_command().arg("describe").output().unwrap();
    let described: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dir = tempdir();
    let mut d = Daemon::start(dir.path(), &[]);
    for method in described["methods"].as_array().unwrap() {
        let method = method.as_str().unwrap();
        // Parameters it does not take: every method answers, none says "method not found".
        let reply = d.call(method, json!({ "not_a_parameter": 1 }));
        assert_ne!(reply["error"]["code"], -32601, "{method}: {reply}");
    }
    assert_eq!(d.error("not_a_method", json!({}))["code"], -32601);
}
