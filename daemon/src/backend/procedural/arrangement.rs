//! The form of a track (intro, A and B sections, outro) and the keys, bass and melody
//! parts over it.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::drums::{BarRole, DrumPattern};
use super::harmony::{self, Chord};
use super::score::{Grid, Note, Score};
use super::style::Style;
use super::voices::Instrument;

/// Bars per section block.
const PHRASE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    A,
    B,
}

/// Fits the tempo to a whole number of bars unless the prompt fixed it, so the loop
/// point falls on a downbeat.
pub fn fit_tempo(bpm: f32, duration_sec: f64, fixed: bool) -> f32 {
    if fixed {
        return bpm;
    }
    let bar = 240.0 / bpm as f64;
    let bars = (duration_sec / bar).round().max(1.0);
    (bars * 240.0 / duration_sec).clamp(60.0, 100.0) as f32
}

pub fn compose(style: &Style, duration_sec: f64, rng: &mut ChaCha8Rng) -> Score {
    let grid = Grid::new(style.bpm, style.swing);
    let bars = (duration_sec / grid.bar_sec()).ceil().max(1.0) as usize;
    let (prog_a, prog_b) = harmony::pick_progressions(style.minor, style.jazz, rng);
    let drums_a = DrumPattern::draw(style, rng);
    let drums_b = DrumPattern::draw(style, rng);
    let comp_a = rng.random_range(0..COMPING.len());
    let comp_b = (comp_a + 1 + rng.random_range(0..COMPING.len() - 1)) % COMPING.len();
    let motif = Motif::draw(rng);
    let tonic_midi = 60 + style.tonic;
    let intro_bars = match bars {
        0..=5 => 0,
        6..=15 => 1,
        _ => 2,
    };
    let has_outro = bars >= 6;

    let mut score = Score {
        bpm: style.bpm,
        ..Score::default()
    };
    let mut voicing: Option<Vec<i32>> = None;
    let mut melody_note = tonic_midi + 12;
    for bar in 0..bars {
        let body_bar = bar.saturating_sub(intro_bars);
        let section = if (body_bar / PHRASE).is_multiple_of(2) {
            Section::A
        } else {
            Section::B
        };
        let in_phrase = body_bar % PHRASE;
        let (prog, drums, comp) = match section {
            Section::A => (&prog_a, &drums_a, comp_a),
            Section::B => (&prog_b, &drums_b, comp_b),
        };
        let is_outro = has_outro && bar == bars - 1;
        let chord = if bar < intro_bars || is_outro {
            prog_a[0]
        } else {
            prog[in_phrase]
        };
        let next_section_starts = in_phrase == PHRASE - 1 && bar + 2 < bars;
        let role = match () {
            _ if bar < intro_bars => BarRole::Intro,
            _ if is_outro => BarRole::Outro,
            _ if next_section_starts && (body_bar / PHRASE) % 2 == 1 => BarRole::Break,
            _ if in_phrase == PHRASE - 1 && rng.random_bool(0.6) => BarRole::Fill,
            _ => BarRole::Groove,
        };
        score.hits.extend(drums.bar(&grid, bar, role, style, rng));

        let notes = harmony::voice(&chord, tonic_midi, voicing.as_deref());
        let keys = if style.piano {
            Instrument::Piano
        } else {
            Instrument::ElectricPiano
        };
        let pattern = if bar < intro_bars || is_outro {
            &COMPING[0]
        } else {
            &COMPING[comp]
        };
        for &(step, length, accent) in pattern.iter() {
            let velocity = rng.random_range(0.5..0.62) * accent;
            // Rolled chord: each voice a few ms after the one below.
            for (k, &midi) in notes.iter().enumerate() {
                score.notes.push(Note {
                    time: grid.time(bar, step) + k as f64 * 0.009,
                    instrument: keys,
                    midi,
                    velocity,
                    held: (length as f64 * grid.step_sec) as f32,
                });
            }
        }
        if style.ambient {
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
        let next_chord = prog.get(in_phrase + 1).copied().unwrap_or(prog[0]);
        if bar >= intro_bars {
            bass_bar(
                &mut score,
                &grid,
                bar,
                &chord,
                &next_chord,
                tonic_midi,
                style,
                is_outro,
                rng,
            );
        }
        let melody_on = section == Section::B || body_bar >= 2 * PHRASE;
        if melody_on && bar >= intro_bars && !is_outro {
            motif.play(&mut score, &grid, bar, &chord, tonic_midi, style, &mut melody_note, rng);
        }
        voicing = Some(notes);
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

#[allow(clippy::too_many_arguments)]
fn bass_bar(
    score: &mut Score,
    grid: &Grid,
    bar: usize,
    chord: &Chord,
    next: &Chord,
    tonic_midi: i32,
    style: &Style,
    is_outro: bool,
    rng: &mut ChaCha8Rng,
) {
    let root = 33 + (tonic_midi + chord.root - 33).rem_euclid(12);
    let mut play = |step: usize, midi: i32, steps: usize, velocity: f32| {
        score.notes.push(Note {
            time: grid.time(bar, step),
            instrument: Instrument::Bass,
            midi,
            velocity,
            held: (steps as f64 * grid.step_sec) as f32,
        });
    };
    if is_outro {
        play(0, root, 12, 0.8);
        return;
    }
    play(0, root, 6, 0.85);
    let answer = if rng.random_bool(0.5) { root + 7 } else { root + 12 };
    play(if rng.random_bool(0.5) { 7 } else { 10 }, answer.min(52), 3, 0.7);
    if style.jazz > 0.6 && rng.random_bool(0.5) {
        // Chromatic approach into the next root.
        let next_root = 33 + (tonic_midi + next.root - 33).rem_euclid(12);
        let approach = if rng.random_bool(0.5) {
            next_root - 1
        } else {
            next_root + 1
        };
        play(14, approach, 2, 0.6);
    } else {
        play(12, root, 3, 0.65);
    }
}

/// A two-bar rhythmic cell for the top line, reused so the melody is recognisable.
struct Motif {
    /// (bar within the two, step, length in steps)
    slots: Vec<(usize, usize, usize)>,
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
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn play(
        &self,
        score: &mut Score,
        grid: &Grid,
        bar: usize,
        chord: &Chord,
        tonic_midi: i32,
        style: &Style,
        last: &mut i32,
        rng: &mut ChaCha8Rng,
    ) {
        for &(_, step, length) in self.slots.iter().filter(|s| s.0 == bar % 2) {
            if !rng.random_bool(style.melody as f64 + 0.3) {
                continue;
            }
            // Chord tone nearest the previous note, kept in a singing range.
            let candidates = chord.intervals.iter().flat_map(|i| {
                let pc = (tonic_midi + chord.root + i).rem_euclid(12);
                (60..84).filter(move |m| m % 12 == pc)
            });
            let target = *last + rng.random_range(-3..=3);
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
