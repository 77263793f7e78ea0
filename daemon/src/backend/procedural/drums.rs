//! Boom-bap drum programming: a pattern per section, velocity variation, ghost notes
//! and fills at phrase ends.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::kit::Sound;
use super::score::{Grid, Hit};
use super::style::{Groove, Style};

/// Velocities per 16th step (0 = silent).
#[derive(Debug, Clone, PartialEq)]
pub struct DrumPattern {
    kick: [f32; 16],
    /// The backbeat (snare, or rim for brushes and bossa), in even and odd bars.
    backbeat: [[f32; 16]; 2],
    backbeat_sound: Sound,
    /// How far behind the grid the backbeat sits, in seconds.
    backbeat_late: f64,
    hat: [f32; 16],
    open_hat: Option<usize>,
}

/// What a bar does in the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarRole {
    /// Hats and rim only, before the beat drops.
    Intro,
    Groove,
    /// Last bar of a 4-bar phrase: a fill on beat 4.
    Fill,
    /// Last bar before a new section: the beat drops out on beat 4.
    Break,
    /// Drums out (a breakdown).
    Tacet,
}

const KICKS: [&[usize]; 4] = [&[0, 10], &[0, 7, 10], &[0, 8, 10], &[0, 3, 10]];

/// Steps with a value, as a 16-step velocity row.
fn row(steps: &[(usize, f32)]) -> [f32; 16] {
    let mut out = [0.0; 16];
    steps.iter().for_each(|&(step, velocity)| out[step] = velocity);
    out
}

impl DrumPattern {
    pub fn draw(style: &Style, rng: &mut ChaCha8Rng) -> DrumPattern {
        let mut kick = [0.0; 16];
        for (i, &step) in KICKS[rng.random_range(0..KICKS.len())].iter().enumerate() {
            kick[step] = if i == 0 { 1.0 } else { rng.random_range(0.7..0.9) };
        }
        let two_and_four = row(&[(4, 0.9), (12, 0.95)]);
        let sixteenths = style.drum_energy > 0.7 && rng.random_bool(0.5);
        let eighths: [f32; 16] = std::array::from_fn(|step| match step {
            s if s % 4 == 0 => 0.65,
            s if s % 2 == 0 => 0.5,
            _ if sixteenths => 0.28,
            _ => 0.0,
        });
        let open_hat = rng.random_bool(0.4).then_some(14);
        let pattern = DrumPattern {
            kick,
            backbeat: [two_and_four; 2],
            backbeat_sound: Sound::Snare,
            backbeat_late: 0.008,
            hat: eighths,
            open_hat,
        };
        match style.groove {
            Groove::BoomBap => pattern,
            Groove::LaidBack => DrumPattern {
                kick: row(&[(0, 1.0), (6, 0.7), (9, 0.6)]),
                backbeat_late: 0.022,
                hat: std::array::from_fn(|step| if step % 4 == 0 { 0.55 } else { 0.0 }),
                open_hat: Some(14),
                ..pattern
            },
            Groove::HalfTime => DrumPattern {
                kick: row(&[(0, 1.0), (3, 0.6), (11, 0.75)]),
                backbeat: [row(&[(8, 0.95)]); 2],
                ..pattern
            },
            Groove::Brushes => DrumPattern {
                kick: [0.0; 16],
                backbeat: [row(&[(4, 0.45), (12, 0.5)]); 2],
                backbeat_sound: Sound::Rim,
                hat: std::array::from_fn(|step| if step % 2 == 0 { 0.3 } else { 0.18 }),
                open_hat: None,
                ..pattern
            },
            Groove::Bossa => DrumPattern {
                kick: row(&[(0, 0.9), (6, 0.6), (8, 0.85), (14, 0.6)]),
                // 3-2 son clave over two bars.
                backbeat: [row(&[(0, 0.6), (6, 0.6), (12, 0.6)]), row(&[(4, 0.6), (8, 0.6)])],
                backbeat_sound: Sound::Rim,
                backbeat_late: 0.0,
                hat: std::array::from_fn(|step| if step % 2 == 0 { 0.45 } else { 0.0 }),
                open_hat: None,
            },
        }
    }

    /// Hits of one bar.
    pub fn bar(&self, grid: &Grid, bar: usize, role: BarRole, style: &Style, rng: &mut ChaCha8Rng) -> Vec<Hit> {
        let mut hits = Vec::new();
        let energy = style.drum_energy;
        let mut add = |step: usize, sound: Sound, velocity: f32, late: f64, rng: &mut ChaCha8Rng| {
            // Humanise: a few ms of timing drift and ±10 % velocity.
            let drift = rng.random_range(-0.004..0.004);
            let velocity = velocity * energy * rng.random_range(0.9..1.1);
            hits.push(Hit {
                time: (grid.time(bar, step) + drift + late).max(0.0),
                sound,
                velocity,
            });
        };
        let cut_after = match role {
            BarRole::Break => 12,
            BarRole::Tacet => 0,
            _ => 16,
        };
        for step in 0..16 {
            let hat = self.hat[step];
            if role == BarRole::Intro {
                if hat > 0.0 && step % 2 == 0 {
                    add(step, Sound::HatClosed, hat * 0.7, 0.0, rng);
                }
                if step == 12 && style.groove != Groove::Brushes {
                    add(step, Sound::Rim, 0.5, 0.0, rng);
                }
                continue;
            }
            if step >= cut_after {
                break;
            }
            if self.open_hat == Some(step) && role == BarRole::Groove {
                add(step, Sound::HatOpen, 0.45, 0.0, rng);
            } else if hat > 0.0 {
                add(step, Sound::HatClosed, hat, 0.0, rng);
            }
            if self.kick[step] > 0.0 {
                add(step, Sound::Kick, self.kick[step], 0.0, rng);
            }
            let backbeat = self.backbeat[bar % 2][step];
            if backbeat > 0.0 {
                // A laid-back backbeat: it sits a touch behind the grid.
                add(step, self.backbeat_sound, backbeat, self.backbeat_late, rng);
            } else if self.backbeat_sound == Sound::Snare
                && (step == 7 || step == 9 || step == 15)
                && rng.random_bool(0.3 * energy as f64)
            {
                add(step, Sound::Snare, 0.18, 0.0, rng); // ghost note
            }
        }
        if role == BarRole::Fill {
            match rng.random_range(0..3) {
                0 => {
                    for (i, step) in [13, 14, 15].into_iter().enumerate() {
                        add(step, Sound::Snare, 0.3 + 0.2 * i as f32, 0.0, rng);
                    }
                }
                1 => {
                    add(14, Sound::Kick, 0.8, 0.0, rng);
                    add(15, Sound::Snare, 0.5, 0.0, rng);
                }
                _ => add(15, Sound::Rim, 0.6, 0.0, rng),
            }
        }
        hits
    }
}
