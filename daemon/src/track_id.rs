//! Track ids: the first 8 hex chars of a SHA-256 over the inputs that decide a track.

use sha2::{Digest, Sha256};

/// `sha256(json([prompt, seed, format!("{duration:.3}"), model_version]))[..8]`.
///
/// The inputs are serialised as a compact JSON array, so quoting and escaping make the
/// separators unambiguous ("a,b" + "c" never collides with "a" + "b,c"); the duration is
/// fixed to millisecond precision so 30 and 30.0 give the same id.
pub fn compute(prompt: &str, seed: u64, duration_sec: f64, model_version: &str) -> String {
    let canonical = serde_json::json!([prompt, seed, format!("{duration_sec:.3}"), model_version]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// A client-supplied id is exactly 8 lowercase hex digits: nothing else can reach a path.
pub fn is_valid(track_id: &str) -> bool {
    track_id.len() == 8
        && track_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_sensitive_to_every_input() {
        let id = compute("lofi", 42, 30.0, "procedural-v1");
        assert!(is_valid(&id));
        assert_eq!(id, compute("lofi", 42, 30.0, "procedural-v1"));
        assert_ne!(id, compute("lofi", 43, 30.0, "procedural-v1"));
        assert_ne!(id, compute("lofi", 42, 31.0, "procedural-v1"));
        assert_ne!(id, compute("lofi ", 42, 30.0, "procedural-v1"));
        assert_ne!(id, compute("lofi", 42, 30.0, "musicgen-small-Q4_K_M-v1"));
        // Documented formula, pinned so the id scheme never changes by accident.
        let expected = Sha256::digest(br#"["lofi",42,"30.000","procedural-v1"]"#);
        assert_eq!(id, expected[..4].iter().map(|b| format!("{b:02x}")).collect::<String>());
    }

    #[test]
    fn rejects_anything_but_eight_lowercase_hex() {
        for bad in [
            "",
            "../../etc",
            "ABCDEF12",
            "abcdef1",
            "abcdef123",
            "abcdefg1",
            "a/b/c/d/",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert!(is_valid("0a1b2c3d"));
    }
}
