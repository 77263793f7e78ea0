//! Jazzy lofi harmony: seventh/ninth chords, ii–V and backdoor progressions, voice leading.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Chord qualities as intervals above the chord root.
pub mod quality {
    pub const MAJ9: &[i32] = &[0, 4, 7, 11, 14];
    pub const MAJ7: &[i32] = &[0, 4, 7, 11];
    pub const SIX_NINE: &[i32] = &[0, 4, 7, 9, 14];
    pub const MIN9: &[i32] = &[0, 3, 7, 10, 14];
    pub const MIN7: &[i32] = &[0, 3, 7, 10];
    pub const MIN11: &[i32] = &[0, 3, 10, 14, 17];
    pub const DOM9: &[i32] = &[0, 4, 7, 10, 14];
    pub const DOM13: &[i32] = &[0, 4, 10, 14, 21];
    pub const DOM7B9: &[i32] = &[0, 4, 7, 10, 13];
    pub const HALF_DIM: &[i32] = &[0, 3, 6, 10];
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chord {
    /// Semitones above the tonic.
    pub root: i32,
    pub intervals: &'static [i32],
}

impl Chord {
    /// Chord tones above the root that define colour (3rd, 7th, extensions).
    pub fn colour_tones(&self) -> &'static [i32] {
        // Rootless voicing for 5-note chords (the bass has the root); 4-note chords keep it,
        // and so does the tonic chord, which states the mode (a rootless minor ninth is a
        // major seventh chord a minor third up: the relative major).
        if self.intervals.len() >= 5 && self.root != 0 {
            &self.intervals[1..]
        } else {
            self.intervals
        }
    }
}

const fn c(root: i32, intervals: &'static [i32]) -> Chord {
    Chord { root, intervals }
}

use quality::*;

/// Four-bar progressions, one chord per bar; `jazz` picks the ii–V-heavy ones more often.
const MAJOR: &[(&[Chord; 4], f32)] = &[
    (&[c(2, MIN9), c(7, DOM13), c(0, MAJ9), c(9, MIN9)], 1.0), // ii–V–I–vi
    (&[c(0, MAJ9), c(9, MIN9), c(2, MIN9), c(7, DOM9)], 0.8),  // I–vi–ii–V
    (&[c(5, MAJ9), c(5, MIN9), c(0, MAJ9), c(0, SIX_NINE)], 0.3), // IV–iv–I (minor plagal)
    (&[c(5, MIN9), c(10, DOM9), c(0, MAJ9), c(9, MIN7)], 0.6), // backdoor iv–bVII–I
    (&[c(0, MAJ9), c(4, MIN7), c(9, MIN9), c(2, DOM9)], 0.5),  // I–iii–vi–II
    (&[c(5, MAJ9), c(4, MIN7), c(2, MIN9), c(0, MAJ9)], 0.2),  // IV–iii–ii–I descent
];

const MINOR: &[(&[Chord; 4], f32)] = &[
    (&[c(0, MIN9), c(5, MIN9), c(10, DOM9), c(3, MAJ9)], 0.4), // i–iv–bVII–bIII
    (&[c(0, MIN9), c(8, MAJ9), c(2, HALF_DIM), c(7, DOM7B9)], 1.0), // i–bVI–iiø–V
    (&[c(2, HALF_DIM), c(7, DOM7B9), c(0, MIN9), c(0, MIN11)], 0.9), // minor ii–V–i
    (&[c(0, MIN9), c(3, MAJ9), c(8, MAJ9), c(7, DOM7B9)], 0.6), // i–bIII–bVI–V
    (&[c(5, MIN9), c(10, DOM9), c(3, MAJ9), c(8, MAJ7)], 0.5), // backdoor cycle
    (&[c(0, MIN11), c(10, DOM13), c(8, MAJ9), c(7, MIN7)], 0.2), // Aeolian drift
];

/// The tonic chord of the mode.
pub fn tonic(minor: bool) -> Chord {
    if minor {
        c(0, MIN9)
    } else {
        c(0, MAJ9)
    }
}

/// A chord that can stand in for `chord` and shares part of it: the tritone substitute of a
/// dominant, the relative major of a minor chord, the relative minor of a major one, a
/// half-diminished chord's minor-seventh neighbour. Repeats of a section use these.
pub fn substitute(chord: Chord) -> Chord {
    let has = |interval: i32| chord.intervals.contains(&interval);
    let (root, quality) = match () {
        _ if has(4) && has(10) => (chord.root + 6, DOM9),
        _ if has(6) => (chord.root + 3, MIN7),
        _ if has(3) => (chord.root + 3, MAJ9),
        _ => (chord.root + 9, MIN9),
    };
    c(root.rem_euclid(12), quality)
}

/// The same root in another colour, as a repeat borrows it: a major chord turns minor
/// (modal interchange), a minor one dominant (a secondary dominant), a dominant minor, a
/// half-diminished chord minor.
pub fn recoloured(chord: Chord) -> Chord {
    let has = |interval: i32| chord.intervals.contains(&interval);
    let quality = match () {
        _ if has(4) && has(10) => MIN9,
        _ if has(6) => MIN7,
        _ if has(3) => DOM9,
        _ => MIN9,
    };
    c(chord.root, quality)
}

/// Draws three different progressions (A, B and bridge) for a key and a jazz amount.
pub fn pick_progressions(minor: bool, jazz: f32, rng: &mut ChaCha8Rng) -> [[Chord; 4]; 3] {
    let pool = if minor { MINOR } else { MAJOR };
    // Weight each progression toward its jazz score when `jazz` is high, flat when low.
    let weights: Vec<f32> = pool.iter().map(|(_, j)| 1.0 - jazz + jazz * j + 0.05).collect();
    let draw = |rng: &mut ChaCha8Rng, skip: &[usize]| {
        let total: f32 = weights
            .iter()
            .enumerate()
            .filter(|(i, _)| !skip.contains(i))
            .map(|(_, w)| w)
            .sum();
        let mut x = rng.random_range(0.0..total);
        for (i, w) in weights.iter().enumerate() {
            if skip.contains(&i) {
                continue;
            }
            if x < *w {
                return i;
            }
            x -= w;
        }
        (0..pool.len()).rev().find(|i| !skip.contains(i)).unwrap_or(0)
    };
    let a = draw(rng, &[]);
    let b = draw(rng, &[a]);
    let bridge = draw(rng, &[a, b]);
    [a, b, bridge].map(|i| tonic_first(*pool[i].0))
}

/// The progression turned to start on its tonic chord, if it has one: each phrase then
/// begins on the tonic, reached from the chord before it (a cadence on the strong bar).
fn tonic_first(mut progression: [Chord; 4]) -> [Chord; 4] {
    if let Some(at) = progression.iter().position(|chord| chord.root == 0) {
        progression.rotate_left(at);
    }
    progression
}

/// MIDI notes for a chord, chosen among inversions to move least from `previous`
/// and to sit around middle C.
pub fn voice(chord: &Chord, tonic_midi: i32, previous: Option<&[i32]>) -> Vec<i32> {
    let tones: Vec<i32> = chord
        .colour_tones()
        .iter()
        .map(|i| (tonic_midi + chord.root + i).rem_euclid(12))
        .collect();
    let mut best: Option<(i32, Vec<i32>)> = None;
    for inversion in 0..tones.len() {
        for low in 50..62 {
            if (low - tones[inversion]).rem_euclid(12) != 0 {
                continue;
            }
            let mut notes = vec![low];
            for k in 1..tones.len() {
                let pc = tones[(inversion + k) % tones.len()];
                let prev = *notes.last().unwrap();
                notes.push(prev + 1 + (pc - prev - 1).rem_euclid(12));
            }
            let centre: i32 = notes.iter().sum::<i32>() / notes.len() as i32;
            let movement: i32 = previous.map_or(0, |p| notes.iter().zip(p).map(|(a, b)| (a - b).abs()).sum());
            // Low clusters of seconds sound muddy: penalise a 1–2 semitone gap at the bottom.
            let mud = if notes[1] - notes[0] <= 2 && notes[0] < 55 {
                6
            } else {
                0
            };
            let cost = movement * 2 + (centre - 62).abs() + mud;
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, notes));
            }
        }
    }
    best.map(|(_, n)| n).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn voicings_lead_smoothly_and_keep_chord_tones() {
        let [a, ..] = pick_progressions(false, 1.0, &mut ChaCha8Rng::seed_from_u64(1));
        let mut prev: Option<Vec<i32>> = None;
        for chord in a.iter().cycle().take(8) {
            let notes = voice(chord, 60, prev.as_deref());
            for n in &notes {
                let rel = (n - 60 - chord.root).rem_euclid(12);
                assert!(chord.intervals.iter().any(|i| i.rem_euclid(12) == rel));
            }
            if let Some(p) = &prev {
                let moved: i32 = notes.iter().zip(p).map(|(a, b)| (a - b).abs()).sum();
                assert!(moved <= 12, "voices jumped {moved} semitones");
            }
            prev = Some(notes);
        }
    }

    #[test]
    fn sections_differ_and_substitutes_share_some_notes() {
        for seed in 0..20 {
            let [a, b, bridge] = pick_progressions(seed % 2 == 0, 0.5, &mut ChaCha8Rng::seed_from_u64(seed));
            assert!(a != b && b != bridge && a != bridge);
            for chord in a.iter().chain(&b) {
                let pcs = |c: &Chord| {
                    c.intervals
                        .iter()
                        .map(|i| (c.root + i).rem_euclid(12))
                        .collect::<Vec<_>>()
                };
                for sub in [substitute(*chord), recoloured(*chord)] {
                    let shared = pcs(&sub).iter().filter(|p| pcs(chord).contains(p)).count();
                    assert!(sub != *chord && shared >= 1, "{chord:?} -> {sub:?}");
                }
            }
        }
    }
}
