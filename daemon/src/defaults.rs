//! Every default and range a client needs to know, in one place. `lofi-daemon describe
//! --lua` writes them (with the protocol's method and notification names) into the plugin's
//! `lua/lofi/described.lua`, so the plugin checks its configuration without a running daemon.

/// Default prompt when a request leaves it out.
pub const PROMPT: &str = "lofi hip hop, chill, mellow piano, vinyl crackle";
/// Longest prompt accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 1000;
pub const DURATION_SEC: f64 = 30.0;
pub const MIN_DURATION_SEC: f64 = 1.0;
pub const MAX_DURATION_SEC: f64 = 600.0;
/// Seeds must survive a round trip through Lua numbers (doubles); random ones are drawn
/// from the whole range 0..=MAX_SEED.
pub const MAX_SEED: u64 = (1 << 53) - 1;
pub const VOLUME: f32 = 0.3;
/// Volumes accepted, by `volume_set` and `--volume` alike.
pub const VOLUME_RANGE: std::ops::RangeInclusive<f64> = 0.0..=1.0;
pub const CROSSFADE_SEC: f64 = 2.0;
/// Longest crossfade accepted, in seconds.
pub const MAX_CROSSFADE_SEC: f64 = 30.0;
pub const CACHE_MAX_MB: f64 = 500.0;
/// The smallest size limit: below one MB a single 30 s track would not fit, and every store
/// would empty the cache.
pub const MIN_CACHE_MB: f64 = 1.0;
/// The smallest track-count limit (no limit is `None`, never 0).
pub const MIN_CACHE_TRACKS: usize = 1;
pub const IDLE_TIMEOUT_SEC: u64 = 300;
/// How long the ggml backend keeps its model in memory unused (as ollama's keep-alive): ~250 MB
/// for musicgen-small Q4_K_M, against ~1 s to place it again.
pub const KEEP_MODEL_SEC: u64 = 300;
/// Prompts for the `preset_cycle` and `random_preset` prefetch strategies.
pub const PREFETCH_PRESETS: &[&str] = &[
    "lofi hip hop, rainy day, mellow piano",
    "chill beats, coffee shop, jazz chords",
    "lofi, late night coding, ambient synth",
    "lofi hip hop, vinyl crackle, nostalgic",
];

/// A random seed in 0..=MAX_SEED, for a request that gives none.
pub fn random_seed() -> u64 {
    use rand::Rng;
    rand::rng().random_range(0..=MAX_SEED)
}
