//! JSON-RPC 2.0: line framing, request parsing, responses, notifications and errors.

mod error;
mod framing;
mod message;

pub use error::{ErrorReason, RpcError};
pub use framing::{LineReader, ReadLine, MAX_LINE_BYTES};
pub use message::{parse_message, Outgoing, Rejected, Request, RequestId};
