//! The plan of a track: which part plays when. Tracks of any length develop like a produced
//! beat: an intro, A and B sections, a bridge in another key centre, a breakdown where
//! instruments drop out, returns that vary what came before, and a turnaround bar that leads
//! back into the start, so a looping track never sags at its seam.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Hats, rim and the tonic chord before the beat drops.
    Intro,
    A,
    B,
    /// A third progression, a minor sixth up (the bVI key centre).
    Bridge,
    /// Keys and pad alone: drums and bass drop out, then come back.
    Breakdown,
    /// The last bar: the dominant and a fill, back into the start.
    Turnaround,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub part: Part,
    pub bars: usize,
    /// How many times this part was heard before: repeats vary.
    pub pass: usize,
}

/// The order parts come in after the intro; long tracks go round it again.
const CYCLE: [Part; 8] = [
    Part::A,
    Part::B,
    Part::A,
    Part::Bridge,
    Part::B,
    Part::Breakdown,
    Part::A,
    Part::B,
];

/// The sections of a track of `bars` bars (their lengths add up to `bars`). `opening`: it starts
/// with an intro (a track, a new song on the radio); a chapter that goes on from the one before
/// starts in the groove.
pub fn plan(bars: usize, opening: bool) -> Vec<Section> {
    if bars <= 5 {
        return vec![Section {
            part: Part::A,
            bars,
            pass: 0,
        }];
    }
    let intro = match (opening, bars < 16) {
        (false, _) => 0,
        (true, true) => 1,
        (true, false) => 2,
    };
    let body = bars - intro - 1;
    // 8-bar phrases (16- and 32-bar sections pairs) once there is room for them.
    let phrase = if body >= 40 { 8 } else { 4 };
    let phrases = body.div_ceil(phrase);
    let mut sections: Vec<Section> = (intro > 0)
        .then_some(Section {
            part: Part::Intro,
            bars: intro,
            pass: 0,
        })
        .into_iter()
        .collect();
    let cycle: Vec<Part> = CYCLE
        .into_iter()
        .filter(|part| match part {
            Part::Bridge => phrases >= 4,
            Part::Breakdown => phrases >= 6,
            _ => true,
        })
        .collect();
    let mut heard = [0usize; 6];
    let mut left = body;
    for part in cycle.iter().cycle() {
        if left == 0 {
            break;
        }
        let length = if *part == Part::Breakdown {
            phrase.min(4)
        } else {
            phrase
        }
        .min(left);
        sections.push(Section {
            part: *part,
            bars: length,
            pass: heard[*part as usize],
        });
        heard[*part as usize] += 1;
        left -= length;
    }
    sections.push(Section {
        part: Part::Turnaround,
        bars: 1,
        pass: 0,
    });
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_gets_a_whole_plan() {
        for bars in 1..=240 {
            for opening in [true, false] {
                let sections = plan(bars, opening);
                assert_eq!(sections.iter().map(|s| s.bars).sum::<usize>(), bars, "{bars} bars");
                assert!(sections.iter().all(|s| s.bars > 0));
            }
        }
        let parts = |bars| plan(bars, true).iter().map(|s| s.part).collect::<Vec<_>>();
        assert_eq!(parts(4), [Part::A]);
        assert_eq!(parts(10), [Part::Intro, Part::A, Part::B, Part::Turnaround]);
        assert_eq!(plan(32, false)[0].part, Part::A, "a chapter that goes on has no intro");
        let long = plan(60, true);
        assert_eq!(
            long[0],
            Section {
                part: Part::Intro,
                bars: 2,
                pass: 0
            }
        );
        assert_eq!(long.last().unwrap().part, Part::Turnaround);
        assert!(long.iter().any(|s| s.part == Part::Bridge) && long.iter().any(|s| s.part == Part::Breakdown));
        assert!(
            long.iter().any(|s| s.part == Part::A && s.pass == 2),
            "A returns, varied"
        );
    }
}
