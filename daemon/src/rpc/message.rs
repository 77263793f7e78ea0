use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::{ErrorReason, RpcError};

/// A request id (number, string or null) kept as the exact JSON text the client sent, so
/// the reply echoes it byte for byte: `1e2` stays `1e2`, not `100.0`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct RequestId(Box<RawValue>);

impl RequestId {
    pub fn null() -> RequestId {
        RequestId(RawValue::from_string("null".into()).expect("null is JSON"))
    }

    /// The id as the client wrote it.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RequestId {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

/// A well-formed JSON-RPC request or notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `None` for a notification: it is executed but never answered.
    pub id: Option<RequestId>,
    pub method: String,
    /// Always an object; absent params become `{}`. By-position params are rejected.
    pub params: Map<String, Value>,
}

/// A line that cannot be executed: the id to answer (null when unknown) and why.
pub type Rejected = (Option<RequestId>, RpcError);

/// Parses one line into a request, or the error to answer with. Batches (arrays) are
/// not supported and are answered with one "invalid request" error.
pub fn parse_message(line: &[u8]) -> Result<Request, Rejected> {
    let reject = |reason, message: String| (Some(RequestId::null()), RpcError::new(reason, message));
    let text =
        std::str::from_utf8(line).map_err(|_| reject(ErrorReason::ParseError, "request is not valid UTF-8".into()))?;
    // Members as raw text first: the id is echoed as written, even a number no f64 holds.
    // (serde_json skips raw values without recursing, so depth is checked per member below.)
    match serde_json::from_str::<BTreeMap<String, &RawValue>>(text) {
        Ok(members) => parse_request(members),
        Err(_) => Err(match serde_json::from_str::<Value>(text) {
            Err(e) => reject(ErrorReason::ParseError, format!("request is not valid JSON: {e}")),
            Ok(Value::Array(_)) => reject(ErrorReason::InvalidRequest, "batch requests are not supported".into()),
            Ok(_) => reject(ErrorReason::InvalidRequest, "request must be a JSON object".into()),
        }),
    }
}

fn parse_request(members: BTreeMap<String, &RawValue>) -> Result<Request, Rejected> {
    let id = match members.get("id").map(|raw| raw.get()) {
        None => None,
        Some(raw) if raw.starts_with(['"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) || raw == "null" => {
            Some(RequestId(
                RawValue::from_string(raw.to_owned()).expect("a member's raw text is JSON"),
            ))
        }
        // A request whose id we cannot trust is answered with id null.
        Some(_) => {
            return Err((
                Some(RequestId::null()),
                RpcError::new(ErrorReason::InvalidRequest, "\"id\" must be a number, a string or null"),
            ))
        }
    };
    let reply_id = || id.clone().or_else(|| Some(RequestId::null()));
    let member = |name: &str| -> Result<Option<Value>, Rejected> {
        members
            .get(name)
            .map(|raw| serde_json::from_str::<Value>(raw.get()))
            .transpose()
            .map_err(|e| {
                let message = format!("request is not valid JSON: \"{name}\": {e}");
                (reply_id(), RpcError::new(ErrorReason::ParseError, message))
            })
    };
    let invalid = |message: &str| Err((reply_id(), RpcError::new(ErrorReason::InvalidRequest, message)));
    if member("jsonrpc")? != Some(json!("2.0")) {
        return invalid("\"jsonrpc\" must be \"2.0\"");
    }
    let method = match member("method")? {
        Some(Value::String(method)) => method,
        Some(_) => return invalid("\"method\" must be a string"),
        None => return invalid("request has no \"method\""),
    };
    let params = match member("params")? {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => {
            let error = RpcError::invalid_params("params", "\"params\" must be an object");
            return Err((id, error));
        }
    };
    Ok(Request { id, method, params })
}

/// A line to write to stdout.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Response(RequestId, Result<Value, RpcError>),
    Notification(&'static str, Value),
}

/// A reply as written: through serde so the id's raw text goes out untouched.
#[derive(Serialize)]
struct ResponseLine<'a> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
    id: &'a RequestId,
}

impl Outgoing {
    pub fn to_line(&self) -> String {
        let mut line = match self {
            Outgoing::Response(id, result) => serde_json::to_string(&ResponseLine {
                jsonrpc: "2.0",
                result: result.as_ref().ok(),
                error: result.as_ref().err().map(RpcError::to_json),
                id,
            })
            .expect("a reply serializes"),
            Outgoing::Notification(method, params) => {
                json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string()
            }
        };
        line.push('\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(line: &str) -> Result<Request, Rejected> {
        parse_message(line.as_bytes())
    }

    #[test]
    fn parses_request_and_notification() {
        let r = single(r#"{"jsonrpc":"2.0","method":"status","id":7}"#).unwrap();
        assert_eq!((r.id.unwrap().as_json(), r.method.as_str()), ("7", "status"));
        let n = single(r#"{"jsonrpc":"2.0","method":"stop"}"#).unwrap();
        assert_eq!(n.id, None);
    }

    #[test]
    fn rejects_bad_shapes() {
        let (id, e) = single(r#"{"jsonrpc":"1.0","method":"x","id":"a"}"#).unwrap_err();
        assert_eq!(
            (id.unwrap().as_json(), e.reason),
            ("\"a\"", ErrorReason::InvalidRequest)
        );
        let (_, e) = single(r#"{"jsonrpc":"2.0","method":"x","params":[1],"id":1}"#).unwrap_err();
        assert_eq!(e.reason, ErrorReason::InvalidParams);
        let (id, _) = single(r#"{"jsonrpc":"2.0","method":"x","id":{}}"#).unwrap_err();
        assert_eq!(id, Some(RequestId::null()));
        assert_eq!(single("{oops").unwrap_err().1.reason, ErrorReason::ParseError);
        assert_eq!(
            parse_message(b"\xff\xfe").unwrap_err().1.reason,
            ErrorReason::ParseError
        );
        assert_eq!(single("[]").unwrap_err().1.reason, ErrorReason::InvalidRequest);
    }

    #[test]
    fn ids_are_echoed_byte_for_byte() {
        for id in [
            "1e2",
            "-0",
            "100000000000000000000",
            "1.50",
            "-1E-7",
            "\"\\u00e9\"",
            "null",
            "0",
        ] {
            let line = format!(r#"{{"jsonrpc":"2.0","method":"status","id":{id}}}"#);
            let request = single(&line).unwrap();
            let reply = Outgoing::Response(request.id.unwrap(), Ok(json!({}))).to_line();
            assert!(reply.ends_with(&format!("\"id\":{id}}}\n")), "{id}: {reply}");
        }
        // Also when the request is rejected after its id was read.
        let (id, _) = single(r#"{"jsonrpc":"2.0","method":7,"id":1e2}"#).unwrap_err();
        assert_eq!(id.unwrap().as_json(), "1e2");
    }
}
