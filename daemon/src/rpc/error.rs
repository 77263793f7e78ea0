use serde::Serialize;
use serde_json::{json, Value};

/// The spec's named error reasons, sent in `error.data.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorReason {
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    GenerationInProgress,
    InvalidTrackId,
    CacheWriteError,
    ModelNotFound,
    ModelLoadFailed,
    ModelInferenceFailed,
    AudioDeviceError,
    AudioPlaybackError,
    LameNotFound,
}

impl ErrorReason {
    /// JSON-RPC error code: the standard ones, then -32001.. for the daemon's own.
    pub fn code(self) -> i64 {
        match self {
            ErrorReason::ParseError => -32700,
            ErrorReason::InvalidRequest => -32600,
            ErrorReason::MethodNotFound => -32601,
            ErrorReason::InvalidParams => -32602,
            ErrorReason::InternalError => -32603,
            ErrorReason::GenerationInProgress => -32001,
            ErrorReason::InvalidTrackId => -32002,
            ErrorReason::CacheWriteError => -32003,
            ErrorReason::ModelNotFound => -32004,
            ErrorReason::ModelLoadFailed => -32005,
            ErrorReason::ModelInferenceFailed => -32006,
            ErrorReason::AudioDeviceError => -32007,
            ErrorReason::AudioPlaybackError => -32008,
            ErrorReason::LameNotFound => -32009,
        }
    }
}

/// A JSON-RPC error object: `{code, message, data: {reason, ...}}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RpcError {
    pub reason: ErrorReason,
    pub message: String,
    /// Extra members merged into `error.data` next to `reason` (field, track_id, ...).
    pub details: serde_json::Map<String, Value>,
}

impl RpcError {
    pub fn new(reason: ErrorReason, message: impl Into<String>) -> Self {
        RpcError {
            reason,
            message: message.into(),
            details: serde_json::Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn invalid_params(field: &str, message: impl Into<String>) -> Self {
        RpcError::new(ErrorReason::InvalidParams, message).with("field", field)
    }

    pub fn unknown_track(track_id: &str) -> Self {
        RpcError::new(
            ErrorReason::InvalidTrackId,
            format!("track {track_id} is not in the cache"),
        )
        .with("track_id", track_id)
    }

    pub fn to_json(&self) -> Value {
        let mut data = self.details.clone();
        data.insert("reason".into(), json!(self.reason));
        json!({ "code": self.reason.code(), "message": self.message, "data": data })
    }
}
