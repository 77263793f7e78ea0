//! The form of a track from its harmony: the chroma of each bar, how often 8-bar spans
//! recur, how many different bars there are, and a map of 4-bar sections by letter.
//! Bars are counted from the start of the file at the given tempo.

use super::tonal::chroma_frames;

/// Bars whose chroma correlate at least this much count as the same bar.
pub const SAME_BAR: f32 = 0.9;
const HOP: usize = 2048;
const FRAME: usize = 8192;

/// The chroma of each whole bar (unit length; zero for a silent bar).
pub fn bar_chroma(samples: &[f32], sample_rate: u32, bpm: f64) -> Vec<[f32; 12]> {
    let bar_samples = 240.0 / bpm * sample_rate as f64;
    let bars = (samples.len() as f64 / bar_samples).floor() as usize;
    let mut out = vec![[0f32; 12]; bars];
    for (i, frame) in chroma_frames(samples, sample_rate, HOP).iter().enumerate() {
        let centre = (i * HOP + FRAME / 2) as f64;
        let bar = (centre / bar_samples) as usize;
        if let Some(sum) = out.get_mut(bar) {
            sum.iter_mut().zip(frame).for_each(|(s, c)| *s += c);
        }
    }
    for chroma in &mut out {
        let norm = chroma.iter().map(|c| c * c).sum::<f32>().sqrt();
        if norm > 0.0 {
            chroma.iter_mut().for_each(|c| *c /= norm);
        }
    }
    out
}

fn cosine(a: &[f32; 12], b: &[f32; 12]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// What `analyze` reports on form.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub bars: usize,
    /// Bars unlike every bar before them (greedy clusters at [`SAME_BAR`]).
    pub distinct_bars: usize,
    /// The most times any 8-bar span recurs elsewhere (non-overlapping) with a mean bar
    /// similarity of at least 0.9.
    pub max_span_recurrence: usize,
    /// One letter per 4 bars: the same letter for a block like an earlier one.
    pub sections: String,
}

/// Greedy clustering: each item joins the first earlier cluster it resembles.
fn labels<T>(items: &[T], same: impl Fn(&T, &T) -> bool) -> Vec<usize> {
    let mut heads: Vec<usize> = Vec::new();
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match heads.iter().position(|&h| same(&items[h], item)) {
            Some(label) => label,
            None => {
                heads.push(i);
                heads.len() - 1
            }
        })
        .collect()
}

pub fn form(bars: &[[f32; 12]]) -> Form {
    let span_similarity = |a: usize, b: usize, len: usize| -> f32 {
        (0..len).map(|k| cosine(&bars[a + k], &bars[b + k])).sum::<f32>() / len as f32
    };
    let spans = bars.len().saturating_sub(7);
    let max_span_recurrence = (0..spans)
        .map(|i| {
            (0..spans)
                .filter(|&j| j.abs_diff(i) >= 8 && span_similarity(i, j, 8) >= SAME_BAR)
                .count()
        })
        .max()
        .unwrap_or(0);
    let blocks: Vec<usize> = (0..bars.len() / 4).map(|b| b * 4).collect();
    let block_labels = labels(&blocks, |&a, &b| span_similarity(a, b, 4) >= SAME_BAR);
    Form {
        bars: bars.len(),
        distinct_bars: labels(bars, |a, b| cosine(a, b) >= SAME_BAR)
            .iter()
            .max()
            .map_or(0, |m| m + 1),
        max_span_recurrence,
        sections: block_labels.iter().map(|&l| (b'A' + (l % 26) as u8) as char).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(pc: &[usize]) -> [f32; 12] {
        let mut c = [0f32; 12];
        pc.iter().for_each(|&p| c[p] = 1.0 / (pc.len() as f32).sqrt());
        c
    }

    #[test]
    fn a_loop_repeats_and_a_through_composed_piece_does_not() {
        let chords = [bar(&[0, 4, 7]), bar(&[5, 9, 0]), bar(&[7, 11, 2]), bar(&[9, 0, 4])];
        let looped: Vec<[f32; 12]> = (0..32).map(|i| chords[i % 4]).collect();
        let f = form(&looped);
        assert_eq!((f.bars, f.distinct_bars, f.sections.as_str()), (32, 4, "AAAAAAAA"));
        assert_eq!(
            f.max_span_recurrence, 5,
            "the first 8 bars recur at bars 8, 12, 16, 20 and 24"
        );
        let composed: Vec<[f32; 12]> = (0..32).map(|i| bar(&[i % 12, (i * 5 + 3) % 12])).collect();
        let f = form(&composed);
        assert!(f.distinct_bars >= 12 && f.max_span_recurrence <= 2, "{f:?}");
    }
}
