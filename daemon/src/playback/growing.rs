//! Samples that arrive while they play: one writer (the generation thread) appends them in
//! order, the audio thread reads what has arrived. Lock-free and allocation-free on both
//! sides: the whole length is allocated up front, each sample is an atomic cell, and the count
//! written is published with release/acquire, so a reader never sees a cell before its value.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

pub struct GrowingSamples {
    cells: Box<[AtomicU32]>,
    written: AtomicUsize,
    ended: AtomicBool,
}

impl GrowingSamples {
    /// Room for `len` samples, the length the stream is expected to reach.
    pub fn with_len(len: usize) -> GrowingSamples {
        GrowingSamples {
            cells: (0..len).map(|_| AtomicU32::new(0)).collect(),
            written: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
        }
    }

    /// The stream's length: the expected one while it grows, what was written once it ended.
    pub fn len(&self) -> usize {
        if self.ended.load(Ordering::Acquire) {
            self.written()
        } else {
            self.cells.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn written(&self) -> usize {
        self.written.load(Ordering::Acquire)
    }

    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Sample `i`: `None` while it has not arrived (the stream goes on), silence past the end.
    pub fn get(&self, i: usize) -> Option<f32> {
        if i < self.written() {
            Some(f32::from_bits(self.cells[i].load(Ordering::Relaxed)))
        } else if self.ended() {
            Some(0.0)
        } else {
            None
        }
    }

    /// Appends `samples` (by the one writer); what goes past the expected length is dropped.
    pub fn extend(&self, samples: &[f32]) {
        let at = self.written.load(Ordering::Relaxed);
        let taken = samples.len().min(self.cells.len() - at);
        for (cell, s) in self.cells[at..].iter().zip(&samples[..taken]) {
            cell.store(s.to_bits(), Ordering::Relaxed);
        }
        self.written.store(at + taken, Ordering::Release);
    }

    /// The stream is over: its length is what was written (short of the expected one when the
    /// generation failed).
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }
}

impl std::fmt::Debug for GrowingSamples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GrowingSamples({}/{}, ended: {})",
            self.written(),
            self.cells.len(),
            self.ended()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_what_arrived_and_waits_for_the_rest() {
        let g = GrowingSamples::with_len(4);
        assert_eq!((g.len(), g.get(0)), (4, None));
        g.extend(&[0.5, -0.5]);
        assert_eq!((g.get(1), g.get(2)), (Some(-0.5), None));
        g.extend(&[0.25, 0.125, 9.0]);
        assert_eq!((g.written(), g.get(3)), (4, Some(0.125)), "past the length is dropped");
        let short = GrowingSamples::with_len(10);
        short.extend(&[1.0; 3]);
        short.end();
        assert_eq!(
            (short.len(), short.get(5)),
            (3, Some(0.0)),
            "a failed stream ends where it got"
        );
    }
}
