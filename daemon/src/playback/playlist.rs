//! The playlist's order and where playback stands in it: the track heard, the one queued in the
//! mixer after it, and whether the end wraps to the start. Indexes only; the engine loads, plays
//! and announces. A track may be listed twice, so places are indexes, not track ids.

pub struct Playlist {
    tracks: Vec<String>,
    /// Index of the track heard now.
    heard: Option<usize>,
    /// Index of the track queued in the mixer after it.
    queued: Option<usize>,
    loops: bool,
}

impl Playlist {
    /// Empty, looping.
    pub fn new() -> Playlist {
        Playlist {
            tracks: Vec::new(),
            heard: None,
            queued: None,
            loops: true,
        }
    }

    pub fn tracks(&self) -> &[String] {
        &self.tracks
    }

    pub fn track(&self, index: usize) -> &str {
        &self.tracks[index]
    }

    pub fn contains(&self, track_id: &str) -> bool {
        self.tracks.iter().any(|t| t == track_id)
    }

    /// The first place `track_id` holds.
    pub fn position(&self, track_id: &str) -> Option<usize> {
        self.tracks.iter().position(|t| t == track_id)
    }

    pub fn heard(&self) -> Option<usize> {
        self.heard
    }

    pub fn queued(&self) -> Option<usize> {
        self.queued
    }

    pub fn queued_track(&self) -> Option<&str> {
        self.queued.map(|i| self.track(i))
    }

    pub fn loops(&self) -> bool {
        self.loops
    }

    /// Looping on or off: what follows the track heard may change, so nothing counts as queued.
    pub fn set_loops(&mut self, loops: bool) {
        self.loops = loops;
        self.queued = None;
    }

    /// The track at `index` is heard (`None`: none is), nothing queued after it yet.
    pub fn hear(&mut self, index: Option<usize>) {
        self.heard = index;
        self.queued = None;
    }

    /// The track at `index` is queued after the one heard (`None`: none is, or it is to be
    /// queued again).
    pub fn set_queued(&mut self, index: Option<usize>) {
        self.queued = index;
    }

    /// The queued track is heard now (a skip took it): its index.
    pub fn hear_queued(&mut self) -> Option<usize> {
        let next = self.queued.take()?;
        self.heard = Some(next);
        Some(next)
    }

    /// The mixer went on to `track_id`: its place is the first that holds it after the track
    /// heard (wrapping), so a track listed twice resolves to the occurrence that follows.
    pub fn heard_went_on_to(&mut self, track_id: &str) {
        let n = self.tracks.len();
        let start = self.heard.map_or(0, |i| i + 1);
        self.hear((0..n).map(|k| (start + k) % n).find(|&i| self.tracks[i] == track_id));
    }

    /// The index of the track after the one heard, wrapping when looping.
    pub fn next(&self) -> Option<usize> {
        let index = self.heard?;
        if index + 1 < self.tracks.len() {
            Some(index + 1)
        } else if self.loops && !self.tracks.is_empty() {
            Some(0)
        } else {
            None
        }
    }

    /// Whether the track at `index` is the last, wrapping or not.
    pub fn is_last(&self, index: usize) -> bool {
        index + 1 >= self.tracks.len()
    }

    /// Appends `track_id`; returns its index.
    pub fn append(&mut self, track_id: &str) -> usize {
        self.tracks.push(track_id.to_owned());
        self.tracks.len() - 1
    }

    /// Lists `track_id` right after the track at `index`, to follow it.
    pub fn insert_after(&mut self, index: usize, track_id: &str) {
        self.tracks.insert(index + 1, track_id.to_owned());
        self.queued = None;
    }

    /// Takes every occurrence of the `removed` tracks out. The track heard is found again in the
    /// new order, so no index from before the change is used after it; if it left, the track
    /// before what followed it counts as heard, so that what followed it follows it still.
    pub fn remove(&mut self, removed: &[String]) {
        let heard_at = self.heard.filter(|&i| i < self.tracks.len());
        let heard = heard_at.map(|i| self.tracks[i].clone());
        let removed_before = heard_at.map_or(0, |i| self.tracks[..i].iter().filter(|t| removed.contains(t)).count());
        self.tracks.retain(|t| !removed.contains(t));
        self.heard = match heard {
            Some(h) if !removed.contains(&h) => self.position(&h),
            Some(_) if !self.tracks.is_empty() => {
                let next = heard_at.unwrap_or(0) - removed_before;
                Some((next + self.tracks.len() - 1) % self.tracks.len())
            }
            _ => None,
        };
        self.queued = None;
    }

    pub fn clear(&mut self) {
        self.tracks.clear();
        self.hear(None);
    }

    /// The tracks after the one heard (all of them when none is).
    pub fn upcoming(&self) -> &[String] {
        let after = self.heard.map_or(0, |i| i + 1);
        &self.tracks[after.min(self.tracks.len())..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(ids: &[&str]) -> Playlist {
        let mut playlist = Playlist::new();
        for id in ids {
            playlist.append(id);
        }
        playlist
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_next_track_wraps_only_when_looping() {
        let mut playlist = listing(&["a", "b"]);
        assert_eq!(playlist.next(), None, "nothing heard");
        playlist.hear(Some(1));
        assert_eq!(playlist.next(), Some(0));
        playlist.set_loops(false);
        assert_eq!(playlist.next(), None);
        playlist.hear(Some(0));
        assert_eq!(playlist.next(), Some(1));
    }

    #[test]
    fn a_track_listed_twice_resolves_to_the_occurrence_that_follows() {
        let mut playlist = listing(&["a", "b", "a", "c"]);
        playlist.hear(Some(1));
        playlist.heard_went_on_to("a");
        assert_eq!(playlist.heard(), Some(2));
        playlist.heard_went_on_to("a");
        assert_eq!(playlist.heard(), Some(0), "wrapping");
        playlist.heard_went_on_to("z");
        assert_eq!(playlist.heard(), None, "not listed");
    }

    #[test]
    fn removing_tracks_keeps_what_follows_the_track_heard() {
        let mut playlist = listing(&["a", "b", "c", "d"]);
        playlist.hear(Some(2));
        playlist.set_queued(Some(3));
        playlist.remove(&ids(&["a"]));
        assert_eq!(
            (playlist.heard(), playlist.queued()),
            (Some(1), None),
            "c found again; the queue is to be made again"
        );
        playlist.remove(&ids(&["c"]));
        assert_eq!(playlist.tracks(), ids(&["b", "d"]));
        assert_eq!(playlist.next().map(|i| playlist.track(i)), Some("d"), "d still follows");
        playlist.hear(Some(0));
        playlist.remove(&ids(&["b", "d"]));
        assert_eq!(playlist.heard(), None, "empty");
    }

    #[test]
    fn removing_the_first_track_heard_wraps_to_the_last() {
        let mut playlist = listing(&["a", "b", "c"]);
        playlist.hear(Some(0));
        playlist.remove(&ids(&["a"]));
        assert_eq!(playlist.heard(), Some(1), "c counts as heard: b follows it");
        assert_eq!(playlist.next(), Some(0));
    }

    #[test]
    fn a_skip_hears_the_queued_track_and_upcoming_follows_it() {
        let mut playlist = listing(&["a", "b", "c"]);
        assert_eq!(playlist.upcoming(), ids(&["a", "b", "c"]), "nothing heard: all of it");
        playlist.hear(Some(0));
        assert_eq!(playlist.hear_queued(), None, "nothing queued");
        playlist.set_queued(Some(1));
        assert_eq!(playlist.queued_track(), Some("b"));
        assert_eq!(playlist.hear_queued(), Some(1));
        assert_eq!((playlist.heard(), playlist.queued()), (Some(1), None));
        assert_eq!(playlist.upcoming(), ids(&["c"]));
        playlist.insert_after(1, "z");
        assert_eq!(playlist.upcoming(), ids(&["z", "c"]));
        assert!(playlist.is_last(3) && !playlist.is_last(2));
        playlist.clear();
        assert_eq!((playlist.tracks().len(), playlist.heard()), (0, None));
    }
}
