//! The parts over the form (see `form`): keys comping, bass, melody and drums for each
//! section, varied each time a section comes back.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::drums::{BarRole, DrumPattern};
use super::form::{self, Part, Section};
use super::harmony::{self, Chord};
use super::score::{Grid, Note, Score};
use super::style::Style;
use super::voices::Instrument;

/// Fits the tempo to a whole number of bars, so the loop point falls on a downbeat: the
/// whole-bar tempo nearest `bpm` inside `range` (a prompt's "85 bpm" is a range of one,
/// kept as written).
pub fn fit_tempo(bpm: f32, duration_sec: f64, range: (f32, f32)) -> f32 {
    if range.0 >= range.1 {
        return bpm;
    }
    let bars_at = |tempo: f32| duration_sec * tempo as f64 / 240.0;
    let (fewest, most) = (bars_at(range.0).ceil().max(1.0), bars_at(range.1).floor());
    let bars = bars_at(bpm).round().clamp(fewest, most.max(fewest));
    let fitted = (bars * 240.0 / duration_sec) as f32;
    if (range.0..=range.1).contains(&fitted) {
        fitted
    } else {
        bpm // too short a track for a whole bar inside the range: the tempo as drawn
    }
}

/// What a section plays, drawn when it starts.
struct SectionParts {
    progression: [Chord; 4],
    /// Semitones above the track's tonic (the bridge moves a minor sixth up).
    key_shift: i32,
    drums: DrumPattern,
    comping: usize,
    walking_bass: bool,
    motif: Motif,
}

/// The chord of bar `k` of a section. A first hearing keeps its first four bars; after
/// them, and from the first bar of a repeat, every chord is replaced, by borrowed colours
/// (a minor tonic turns dominant: the i → I7 → iv of jazz), substitutes and both in turn,
/// so no two passes through a section sound alike.
fn chord_at(parts: &SectionParts, section: &Section, k: usize) -> Chord {
    let chord = parts.progression[k % 4];
    let variation = section.pass + k / 4;
    if variation == 0 {
        return chord;
    }
    match variation % 3 {
        1 => harmony::recoloured(chord),
        2 => harmony::substitute(chord),
        _ => harmony::substitute(harmony::recoloured(chord)),
    }
}

pub fn compose(style: &Style, duration_sec: f64, opening: bool, rng: &mut ChaCha8Rng) -> Score {
    let grid = Grid::new(style.bpm, style.swing);
    let bars = (duration_sec / grid.bar_sec()).ceil().max(1.0) as usize;
    let progressions = harmony::pick_progressions(style.minor, style.jazz, rng);
    // After a breakdown, long tracks move to the parallel mode (same tonic, the other
    // mode's progressions): a minor track lifts to major, a major one darkens. The relative
    // key was tried first, but it shares every pitch with home, so nothing new was heard.
    let parallel = harmony::pick_progressions(!style.minor, style.jazz, rng);
    let base_motif = Motif::draw(rng);
    let tonic_midi = 60 + style.tonic;
    let keys = if style.piano {
        Instrument::Piano
    } else {
        Instrument::ElectricPiano
    };
    let mut score = Score {
        bpm: style.bpm,
        ..Score::default()
    };
    let mut voicing: Option<Vec<i32>> = None;
    let mut melody_note = tonic_midi + 12;
    let sections = form::plan(bars, opening);
    let mut bar = 0;
    let mut after_breakdown = false;
    for (index, section) in sections.iter().enumerate() {
        let moved = after_breakdown && matches!(section.part, Part::A | Part::B);
        let home = if moved { &parallel } else { &progressions };
        let parts = SectionParts {
            progression: match section.part {
                Part::Intro | Part::Turnaround => [harmony::tonic(style.minor); 4],
                Part::A => home[0],
                Part::B => home[1],
                // The bridge's progression: in its own key centre, then at home.
                Part::Bridge | Part::Breakdown => progressions[2],
            },
            key_shift: match section.part {
                // bVI: a chromatic-mediant lift that shares three pitches with home (the
                // subdominant shares six, and its bars sounded like home's).
                Part::Bridge => 8,
                _ => 0,
            },
            drums: DrumPattern::draw(style, rng),
            comping: match section.part {
                Part::Intro | Part::Breakdown => 0,
                _ => 1 + (section.part as usize + section.pass) % (COMPING.len() - 1),
            },
            walking_bass: section.pass % 2 == 1 && !style.ambient,
            motif: base_motif.developed(section.pass + section.part as usize, rng),
        };
        let next_part = sections.get(index + 1).map(|s| s.part);
        let key_midi = tonic_midi + parts.key_shift;
        for k in 0..section.bars {
            let chord = chord_at(&parts, section, k);
            let last_of_section = k + 1 == section.bars;
            let role = match section.part {
                Part::Intro => BarRole::Intro,
                Part::Breakdown => BarRole::Tacet,
                Part::Turnaround => BarRole::Fill,
                _ if last_of_section && next_part == Some(Part::Breakdown) => BarRole::Break,
                _ if last_of_section || (k % 4 == 3 && rng.random_bool(0.5)) => BarRole::Fill,
                _ => BarRole::Groove,
            };
            score.hits.extend(parts.drums.bar(&grid, bar, role, style, rng));

            // The chord after this bar: the next in the section, or the start of the track.
            let next_chord = if last_of_section && next_part.is_none() {
                harmony::tonic(style.minor)
            } else {
                chord_at(&parts, section, k + 1)
            };
            let notes = harmony::voice(&chord, key_midi, voicing.as_deref());
            // Varied passes move faster in places: a late comping hit anticipates the next
            // chord through its substitute.
            let varied = section.pass + k / 4 > 0 && k % 2 == 1;
            let approach = (varied && rng.random_bool(0.8))
                .then(|| harmony::voice(&harmony::substitute(next_chord), key_midi, Some(&notes)));
            for &(step, length, accent) in COMPING[parts.comping].iter() {
                let velocity = rng.random_range(0.5..0.62) * accent;
                let voiced = match &approach {
                    Some(approach) if step >= 6 => approach,
                    _ => &notes,
                };
                // Rolled chord: each voice a few ms after the one below.
                for (v, &midi) in voiced.iter().enumerate() {
                    score.notes.push(Note {
                        time: grid.time(bar, step) + v as f64 * 0.009,
                        instrument: keys,
                        midi,
                        velocity,
                        held: (length as f64 * grid.step_sec) as f32,
                    });
                }
            }
            if style.ambient || section.part == Part::Breakdown {
                for &midi in &notes {
                    score.notes.push(Note {
                        time: grid.time(bar, 0),
                        instrument: Instrument::Pad,
                        midi,
                        velocity: 0.4,
                        held: grid.bar_sec() as f32,
                    });
                }
            }
            if !matches!(section.part, Part::Intro | Part::Breakdown) {
                let bass = BassBar {
                    chord: &chord,
                    next: &next_chord,
                    key_midi,
                    walking: parts.walking_bass,
                };
                bass.play(&mut score, &grid, bar, style, rng);
            }
            let melody_on = match section.part {
                Part::B | Part::Bridge | Part::Breakdown => true,
                Part::A => section.pass > 0 || k >= 4,
                Part::Intro | Part::Turnaround => false,
            };
            if melody_on {
                parts.motif.play(
                    &mut score,
                    &grid,
                    bar,
                    k,
                    &chord,
                    key_midi,
                    style,
                    &mut melody_note,
                    rng,
                );
            }
            voicing = Some(notes);
            bar += 1;
        }
        after_breakdown |= section.part == Part::Breakdown;
    }
    score
}

/// Keys comping rhythms: (step, length in steps, accent).
const COMPING: [&[(usize, usize, f32)]; 4] = [
    &[(0, 15, 1.0)],
    &[(0, 6, 1.0), (6, 9, 0.8)],
    &[(0, 10, 1.0), (10, 6, 0.75)],
    &[(0, 3, 1.0), (3, 7, 0.85), (14, 2, 0.6)],
];

/// One bar of bass under `chord`, leading to `next`.
struct BassBar<'a> {
    chord: &'a Chord,
    next: &'a Chord,
    key_midi: i32,
    /// Quarter notes through the chord instead of root and answer (repeats use it).
    walking: bool,
}

impl BassBar<'_> {
    fn play(&self, score: &mut Score, grid: &Grid, bar: usize, style: &Style, rng: &mut ChaCha8Rng) {
        let register = |pc: i32| 33 + (pc - 33).rem_euclid(12);
        let root = register(self.key_midi + self.chord.root);
        let next_root = register(self.key_midi + self.next.root);
        let mut play = |step: usize, midi: i32, steps: usize, velocity: f32| {
            score.notes.push(Note {
                time: grid.time(bar, step),
                instrument: Instrument::Bass,
                midi,
                velocity,
                held: (steps as f64 * grid.step_sec) as f32,
            });
        };
        // The root on the downbeat, always: the harmony is stated where it is heard most.
        play(0, root, if self.walking { 3 } else { 6 }, 0.85);
        let approach = if rng.random_bool(0.5) {
            next_root - 1
        } else {
            next_root + 1
        };
        if self.walking {
            let third = root + self.chord.intervals[1];
            let fifth = root + if self.chord.intervals.contains(&6) { 6 } else { 7 };
            play(4, third, 3, 0.7);
            play(8, fifth, 3, 0.72);
            play(12, approach, 3, 0.65);
            return;
        }
        let answer = if rng.random_bool(0.5) { root + 7 } else { root + 12 };
        play(if rng.random_bool(0.5) { 7 } else { 10 }, answer.min(52), 3, 0.7);
        if style.jazz > 0.6 && rng.random_bool(0.5) {
            play(14, approach, 2, 0.6); // chromatic approach into the next root
        } else {
            play(12, root, 3, 0.65);
        }
    }
}

const MAJOR_SCALE: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
/// Minor with a major sixth: the lofi/jazz minor.
const DORIAN: [i32; 7] = [0, 2, 3, 5, 7, 9, 10];

/// A two-bar rhythmic cell for the top line, reused so the melody is recognisable.
struct Motif {
    /// (bar within the two, step, length in steps)
    slots: Vec<(usize, usize, usize)>,
    /// Semitones each note leans up (sequence) or down (inversion) from the last.
    contour: i32,
}

const MOTIF_CELLS: [&[(usize, usize, usize)]; 4] = [
    &[(0, 2, 4), (0, 6, 2), (0, 8, 6), (1, 10, 4)],
    &[(0, 0, 3), (0, 3, 3), (0, 6, 6), (1, 4, 2), (1, 6, 6)],
    &[(0, 4, 2), (0, 7, 5), (1, 0, 4), (1, 6, 2), (1, 8, 6)],
    &[(0, 10, 2), (0, 12, 4), (1, 2, 6), (1, 10, 4)],
];

impl Motif {
    fn draw(rng: &mut ChaCha8Rng) -> Motif {
        Motif {
            slots: MOTIF_CELLS[rng.random_range(0..MOTIF_CELLS.len())].to_vec(),
            contour: 0,
        }
    }

    /// The motif developed for a section: as drawn, sequenced upward, inverted (moving
    /// down), or displaced by an eighth, in turn.
    fn developed(&self, generation: usize, rng: &mut ChaCha8Rng) -> Motif {
        let displace = generation % 4 == 3;
        Motif {
            slots: self
                .slots
                .iter()
                .map(|&(half, step, length)| {
                    let step = if displace { (step + 2).min(14) } else { step };
                    (half, step, length.min(16 - step))
                })
                .collect(),
            contour: match generation % 4 {
                1 => 2,
                2 => -2,
                _ => rng.random_range(-1..=1),
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn play(
        &self,
        score: &mut Score,
        grid: &Grid,
        bar: usize,
        bar_in_section: usize,
        chord: &Chord,
        tonic_midi: i32,
        style: &Style,
        last: &mut i32,
        rng: &mut ChaCha8Rng,
    ) {
        let scale: &[i32] = if style.minor { &DORIAN } else { &MAJOR_SCALE };
        let slots = self.slots.iter().filter(|s| s.0 == bar_in_section % 2);
        for (index, &(_, step, length)) in slots.enumerate() {
            if !rng.random_bool(style.melody as f64 + 0.3) {
                continue;
            }
            // Chord tones on the strong slots, passing tones of the scale between them; the
            // one nearest the previous note, kept in a singing range.
            let pitch_classes: Vec<i32> = if index % 2 == 0 {
                chord
                    .intervals
                    .iter()
                    .map(|i| (tonic_midi + chord.root + i).rem_euclid(12))
                    .collect()
            } else {
                scale.iter().map(|i| (tonic_midi + i).rem_euclid(12)).collect()
            };
            let candidates = (60..84).filter(|m| pitch_classes.contains(&(m % 12)));
            let target = *last + self.contour + rng.random_range(-3..=3);
            let Some(midi) = candidates
                .filter(|m| (67..=81).contains(m))
                .min_by_key(|m| (m - target).abs())
            else {
                continue;
            };
            *last = midi;
            score.notes.push(Note {
                time: grid.time(bar, step),
                instrument: if style.piano {
                    Instrument::Piano
                } else {
                    Instrument::ElectricPiano
                },
                midi,
                velocity: rng.random_range(0.45..0.6),
                held: (length as f64 * grid.step_sec) as f32,
            });
        }
    }
}
