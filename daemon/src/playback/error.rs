/// Why a playback request failed; the server maps each to a JSON-RPC error code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaybackError {
    #[error("track {0} is not in the cache")]
    NotCached(String),
    #[error("track {0} is not in the playlist")]
    NotInPlaylist(String),
    #[error("nothing is playing to skip")]
    NothingPlaying,
    /// The output device cannot be opened.
    #[error("{0}")]
    Device(String),
    /// A cached track cannot be decoded or resampled.
    #[error("{0}")]
    Load(String),
}
