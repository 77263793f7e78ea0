//! The score: timed drum hits and pitched notes, before any sound is rendered.

use super::kit::Sound;
use super::voices::Instrument;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub time: f64,
    pub sound: Sound,
    pub velocity: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    pub time: f64,
    pub instrument: Instrument,
    pub midi: i32,
    pub velocity: f32,
    pub held: f32,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Score {
    pub hits: Vec<Hit>,
    pub notes: Vec<Note>,
    pub bpm: f32,
}

/// Time grid of one track: bars of 16 swung 16th steps.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    pub step_sec: f64,
    pub swing: f64,
}

impl Grid {
    pub fn new(bpm: f32, swing: f32) -> Grid {
        Grid {
            step_sec: 60.0 / bpm as f64 / 4.0,
            swing: swing as f64,
        }
    }

    pub fn bar_sec(&self) -> f64 {
        self.step_sec * 16.0
    }

    /// Start time of a 16th step; odd steps land late by the swing amount.
    pub fn time(&self, bar: usize, step: usize) -> f64 {
        let swing_delay = if step % 2 == 1 {
            (2.0 * self.swing - 1.0) * self.step_sec
        } else {
            0.0
        };
        bar as f64 * self.bar_sec() + step as f64 * self.step_sec + swing_delay
    }
}
