//! Reads a free-text prompt into musical choices. Words it does not know are ignored.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Drum feels, chosen by the prompt's words or, failing those, by the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Groove {
    /// Syncopated kick, snare on 2 and 4, swung 16ths.
    BoomBap,
    /// Heavier swing, the snare well behind the beat.
    LaidBack,
    /// The snare on 3 only: the beat at half speed over the same tempo.
    HalfTime,
    /// No kick or snare: brushed 16ths and a soft rim (jazzy, ambient).
    Brushes,
    /// Straight 8ths, kick on 1, 2&, 3, 4&, a rim clave across two bars.
    Bossa,
}

/// Musical choices for one track, drawn from the prompt first and the seed second.
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    pub bpm: f32,
    /// Fraction of a 16th pair given to the first 16th (0.5 = straight).
    pub swing: f32,
    /// Pitch class of the tonic, 0 = C.
    pub tonic: i32,
    pub minor: bool,
    /// 0..1: how far harmony leans to ii–V motion and rich extensions.
    pub jazz: f32,
    /// Low-pass cutoff of the music bus in Hz.
    pub cutoff_hz: f32,
    /// 0..1: drum loudness and density.
    pub drum_energy: f32,
    pub rain: f32,
    pub crackle: f32,
    pub hiss: f32,
    /// Tape wow/flutter depth, 0..1.
    pub wobble: f32,
    /// Sustained pad, sparse drums.
    pub ambient: bool,
    /// Piano timbre instead of electric piano.
    pub piano: bool,
    /// Probability of a melody note on each motif slot.
    pub melody: f32,
    pub groove: Groove,
    /// The tempos the prompt allows (fast: 92–100, slow: 60–70); the form fits the tempo
    /// to whole bars inside them.
    pub bpm_range: (f32, f32),
}

const NOTE_NAMES: [(&str, i32); 21] = [
    ("c", 0),
    ("c#", 1),
    ("db", 1),
    ("d", 2),
    ("d#", 3),
    ("eb", 3),
    ("e", 4),
    ("f", 5),
    ("f#", 6),
    ("gb", 6),
    ("g", 7),
    ("g#", 8),
    ("ab", 8),
    ("a", 9),
    ("a#", 10),
    ("bb", 10),
    ("b", 11),
    ("cb", 11),
    ("e#", 5),
    ("fb", 4),
    ("b#", 0),
];

fn note_pitch_class(word: &str) -> Option<i32> {
    let word = word
        .replace("sharp", "#")
        .replace("flat", "b")
        .replace('♯', "#")
        .replace('♭', "b");
    NOTE_NAMES.iter().find(|(n, _)| *n == word).map(|&(_, pc)| pc)
}

fn mode_word(word: &str) -> Option<bool> {
    match word {
        "minor" | "min" | "m" => Some(true),
        "major" | "maj" => Some(false),
        _ => None,
    }
}

/// Tempo written as "85 bpm" or "85bpm", clamped to a range that still feels like lofi.
fn parse_bpm(words: &[&str]) -> Option<f32> {
    words.iter().enumerate().find_map(|(i, w)| {
        let number = match w.strip_suffix("bpm") {
            Some("") => words.get(i.checked_sub(1)?)?,
            Some(n) => n,
            None => return None,
        };
        number.parse::<f32>().ok().map(|b| b.clamp(55.0, 110.0))
    })
}

/// A key written as "F minor", "in Eb major", "C# min" or "key of A" (major).
fn parse_key(words: &[&str]) -> Option<(i32, Option<bool>)> {
    words
        .windows(2)
        .find_map(|pair| {
            let pc = note_pitch_class(pair[0])?;
            mode_word(pair[1]).map(|minor| (pc, Some(minor)))
        })
        .or_else(|| {
            words
                .windows(3)
                .find_map(|w| (w[0] == "key" && w[1] == "of").then(|| note_pitch_class(w[2]).map(|pc| (pc, None)))?)
        })
}

impl Style {
    pub fn from_prompt(prompt: &str, rng: &mut ChaCha8Rng) -> Style {
        let lower = prompt.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !(c.is_alphanumeric() || c == '#' || c == '.' || c == '♯' || c == '♭'))
            .filter(|w| !w.is_empty())
            .collect();
        let has = |keys: &[&str]| {
            keys.iter()
                .any(|k| words.contains(k) || (k.contains(' ') && lower.contains(k)))
        };

        // Seeded defaults: every draw happens in a fixed order so a prompt word never
        // shifts the random stream of the others.
        let mut style = Style {
            bpm: rng.random_range(70..=90) as f32,
            swing: rng.random_range(0.54..0.62),
            tonic: [0, 2, 3, 5, 7, 8, 9, 10][rng.random_range(0..8)],
            minor: rng.random_bool(0.5),
            jazz: rng.random_range(0.3..0.7),
            cutoff_hz: rng.random_range(5200.0..7000.0),
            drum_energy: rng.random_range(0.6..0.8),
            rain: 0.0,
            // Light by default, so that "vinyl" and "tape" are heard when asked for.
            crackle: rng.random_range(0.0..0.15),
            hiss: 0.5,
            wobble: rng.random_range(0.1..0.3),
            ambient: false,
            piano: false,
            melody: rng.random_range(0.35..0.6),
            bpm_range: (60.0, 100.0),
            groove: [Groove::BoomBap, Groove::BoomBap, Groove::LaidBack, Groove::HalfTime][rng.random_range(0..4)],
        };

        // Groove words first; moods below may still lean on it (jazz, ambient).
        if has(&["swing", "swung", "laid-back", "laid back", "lazy"]) {
            style.groove = Groove::LaidBack;
        }
        if has(&["half-time", "halftime", "half time", "heavy"]) {
            style.groove = Groove::HalfTime;
        }
        if has(&["jazz", "jazzy", "bebop"]) && style.groove == Groove::BoomBap {
            style.groove = if style.swing > 0.58 {
                Groove::Brushes
            } else {
                Groove::LaidBack
            };
        }
        if has(&["brushes", "brush"]) {
            style.groove = Groove::Brushes;
        }
        if has(&["bossa", "bossa nova", "brazil", "brazilian", "latin"]) {
            style.groove = Groove::Bossa;
        }
        if has(&["boom", "bap", "boombap", "boom-bap", "boom bap"]) {
            style.groove = Groove::BoomBap;
        }
        if has(&["rain", "rainy", "raining", "storm", "thunderstorm"]) {
            style.rain = 1.0;
        }
        if has(&["jazz", "jazzy", "bebop", "swing"]) {
            style.jazz = 0.95;
            style.swing += 0.02;
        }
        if has(&["piano", "keys"]) {
            style.piano = true;
        }
        if has(&["rhodes", "wurlitzer", "electric piano", "ep"]) {
            style.piano = false;
        }
        if has(&["night", "midnight", "late", "dark", "nocturnal"]) {
            style.cutoff_hz *= 0.75;
            style.bpm -= 4.0;
            style.minor = true;
        }
        if has(&["coffee", "cafe", "café", "morning", "sunny", "coffee shop"]) {
            style.cutoff_hz *= 1.2;
            style.swing += 0.02;
        }
        if has(&["ambient", "atmospheric", "dreamy", "spacey", "pad"]) {
            style.ambient = true;
            style.groove = Groove::Brushes;
            style.drum_energy *= 0.6;
            style.melody *= 0.5;
        }
        if has(&["mellow", "chill", "calm", "relaxed", "soft", "sleepy", "study"]) {
            style.drum_energy *= 0.8;
            style.cutoff_hz *= 0.9;
        }
        if has(&["sad", "melancholy", "melancholic", "lonely", "nostalgic", "rainy"]) {
            style.minor = true;
        }
        if has(&["happy", "upbeat", "bright", "warm", "summer"]) {
            style.minor = false;
            style.bpm += 4.0;
            style.cutoff_hz *= 1.1;
        }
        if has(&["vinyl", "crackle", "dusty", "old", "record"]) {
            style.crackle = 1.0;
            style.cutoff_hz *= 0.85; // worn: the top end goes first
        }
        if has(&["tape", "cassette", "wobbly", "warped", "vhs"]) {
            style.wobble = 1.0;
            style.hiss = 0.9;
        }
        if has(&["clean", "hifi", "hi-fi"]) {
            style.crackle *= 0.3;
            style.hiss *= 0.3;
            style.wobble *= 0.4;
        }
        if has(&["boom", "bap", "boombap", "hip", "hop", "beats", "drums"]) {
            style.drum_energy = (style.drum_energy + 0.15).min(1.0);
        }
        if has(&["slow"]) {
            style.bpm_range = (60.0, 70.0);
        }
        if has(&["fast", "energetic"]) {
            style.bpm_range = (92.0, 100.0);
        }
        style.bpm = (style.bpm + if has(&["fast", "energetic"]) { 14.0 } else { 0.0 }
            - if has(&["slow"]) { 14.0 } else { 0.0 })
        .clamp(style.bpm_range.0, style.bpm_range.1)
        .round();
        if let Some(bpm) = parse_bpm(&words) {
            style.bpm = bpm;
            style.bpm_range = (bpm, bpm);
        }
        if let Some((tonic, minor)) = parse_key(&words) {
            style.tonic = tonic;
            if let Some(minor) = minor {
                style.minor = minor;
            }
        }
        style.swing = match style.groove {
            Groove::Bossa => 0.5,
            Groove::LaidBack => (style.swing + 0.04).clamp(0.5, 0.68),
            _ => style.swing.clamp(0.5, 0.66),
        };
        style.cutoff_hz = style.cutoff_hz.clamp(2500.0, 9500.0);
        style
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn style(prompt: &str) -> Style {
        Style::from_prompt(prompt, &mut ChaCha8Rng::seed_from_u64(7))
    }

    #[test]
    fn reads_tempo_key_and_moods() {
        let s = style("lofi hip hop, 85 bpm, in F minor, rain");
        assert_eq!((s.bpm, s.tonic, s.minor, s.rain), (85.0, 5, true, 1.0));
        assert_eq!(style("92bpm Eb major").bpm, 92.0);
        assert_eq!((style("Eb major").tonic, style("Eb major").minor), (3, false));
        assert_eq!(style("C# min").tonic, 1);
        assert!(style("ambient night").ambient);
        assert!(style("late night").minor);
        assert!(style("jazz piano").piano);
    }

    #[test]
    fn unknown_words_and_articles_change_nothing() {
        let base = style("");
        assert_eq!(style("xyzzy qwerty 🎵 in a mood"), base);
        assert!((60.0..=100.0).contains(&base.bpm));
        assert_eq!(style("1000 bpm").bpm, 110.0);
    }
}
