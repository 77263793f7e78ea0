use serde_json::{json, Map, Value};

use super::{ErrorReason, RpcError};

/// A request id as the client sent it (number, string or null), echoed back verbatim.
pub type RequestId = Value;

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
    let reject = |reason, message: String| (Some(Value::Null), RpcError::new(reason, message));
    let text =
        std::str::from_utf8(line).map_err(|_| reject(ErrorReason::ParseError, "request is not valid UTF-8".into()))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| reject(ErrorReason::ParseError, format!("request is not valid JSON: {e}")))?;
    if value.is_array() {
        return Err(reject(
            ErrorReason::InvalidRequest,
            "batch requests are not supported".into(),
        ));
    }
    parse_request(value)
}

fn parse_request(value: Value) -> Result<Request, Rejected> {
    let Value::Object(mut object) = value else {
        return Err((
            Some(Value::Null),
            RpcError::new(ErrorReason::InvalidRequest, "request must be a JSON object"),
        ));
    };
    let id = object.remove("id");
    let invalid = |message: &str| {
        // A request whose id we cannot trust is answered with id null.
        let reply_id = match &id {
            Some(v @ (Value::Number(_) | Value::String(_) | Value::Null)) => Some(v.clone()),
            _ => Some(Value::Null),
        };
        Err((reply_id, RpcError::new(ErrorReason::InvalidRequest, message)))
    };
    if let Some(Value::Bool(_) | Value::Array(_) | Value::Object(_)) = id {
        return invalid("\"id\" must be a number, a string or null");
    }
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid("\"jsonrpc\" must be \"2.0\"");
    }
    let method = match object.remove("method") {
        Some(Value::String(method)) => method,
        Some(_) => return invalid("\"method\" must be a string"),
        None => return invalid("request has no \"method\""),
    };
    let params = match object.remove("params") {
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

impl Outgoing {
    pub fn to_json(&self) -> Value {
        match self {
            Outgoing::Response(id, Ok(result)) => {
                json!({ "jsonrpc": "2.0", "result": result, "id": id })
            }
            Outgoing::Response(id, Err(error)) => {
                json!({ "jsonrpc": "2.0", "error": error.to_json(), "id": id })
            }
            Outgoing::Notification(method, params) => {
                json!({ "jsonrpc": "2.0", "method": method, "params": params })
            }
        }
    }

    pub fn to_line(&self) -> String {
        let mut line = self.to_json().to_string();
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
        assert_eq!((r.id, r.method.as_str()), (Some(json!(7)), "status"));
        let n = single(r#"{"jsonrpc":"2.0","method":"stop"}"#).unwrap();
        assert_eq!(n.id, None);
    }

    #[test]
    fn rejects_bad_shapes() {
        let (id, e) = single(r#"{"jsonrpc":"1.0","method":"x","id":"a"}"#).unwrap_err();
        assert_eq!((id, e.reason), (Some(json!("a")), ErrorReason::InvalidRequest));
        let (_, e) = single(r#"{"jsonrpc":"2.0","method":"x","params":[1],"id":1}"#).unwrap_err();
        assert_eq!(e.reason, ErrorReason::InvalidParams);
        let (id, _) = single(r#"{"jsonrpc":"2.0","method":"x","id":{}}"#).unwrap_err();
        assert_eq!(id, Some(Value::Null));
        assert_eq!(single("{oops").unwrap_err().1.reason, ErrorReason::ParseError);
        assert_eq!(
            parse_message(b"\xff\xfe").unwrap_err().1.reason,
            ErrorReason::ParseError
        );
        assert_eq!(single("[]").unwrap_err().1.reason, ErrorReason::InvalidRequest);
    }
}
