//! The output device through an outage: the device asked for, the one open, and when a lost one
//! is tried again (backing off from half a second to 8), so that an outage is reported once when
//! it begins and once when a whole tick has passed on the reopened device. The engine opens,
//! reports and re-prepares; this keeps the state and the clock.

use std::time::{Duration, Instant};

use super::output::OpenOutput;

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(8);

pub struct DeviceWatch {
    /// The device asked for: `None` = system default, `Some("none")` = no device.
    wanted: Option<String>,
    opened: Option<OpenOutput>,
    /// When to try reopening a lost device, and the back-off that led there.
    retry: Option<(Instant, Duration)>,
    /// In an outage: reported once; `Some(true)` once reopened, until a clean tick.
    outage: Option<bool>,
}

impl DeviceWatch {
    pub fn new(wanted: Option<String>) -> DeviceWatch {
        DeviceWatch {
            wanted,
            opened: None,
            retry: None,
            outage: None,
        }
    }

    pub fn wanted(&self) -> Option<&str> {
        self.wanted.as_deref()
    }

    /// Asks for `device` from now on; returns the device asked for before.
    pub fn want(&mut self, device: Option<String>) -> Option<String> {
        std::mem::replace(&mut self.wanted, device)
    }

    pub fn opened(&self) -> Option<&OpenOutput> {
        self.opened.as_ref()
    }

    /// The wanted device is open: no retry pending.
    pub fn open(&mut self, opened: OpenOutput) {
        self.opened = Some(opened);
        self.retry = None;
    }

    /// The device was lost (or could not be opened): it is tried again after a back-off twice
    /// the last one's. True when this begins an outage, which is the time to say so.
    pub fn lose(&mut self) -> bool {
        self.opened = None;
        self.back_off();
        self.outage.replace(false).is_none()
    }

    /// Whether a retry is due now.
    pub fn retry_due(&self) -> bool {
        self.retry.is_some_and(|(when, _)| Instant::now() >= when)
    }

    /// A retry reopened the device: the outage ends after a tick without a new error.
    pub fn reopened(&mut self) {
        self.outage = Some(true);
    }

    /// A retry failed: the next waits twice as long.
    pub fn back_off(&mut self) {
        let backoff = self.retry.map_or(FIRST_RETRY, |(_, b)| (b * 2).min(MAX_RETRY));
        self.retry = Some((Instant::now() + backoff, backoff));
    }

    /// True once, when a whole tick has passed on the reopened device: the time to say it is
    /// back.
    pub fn restored(&mut self) -> bool {
        if self.outage == Some(true) && self.retry.is_none() {
            self.outage = None;
            return true;
        }
        false
    }

    /// Whether there is a retry or a recovery to watch.
    pub fn watching(&self) -> bool {
        self.retry.is_some() || self.outage.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(name: &str) -> OpenOutput {
        OpenOutput {
            name: name.into(),
            sample_rate: 48_000,
            channels: 2,
            sample_format: "f32".into(),
        }
    }

    #[test]
    fn an_outage_is_reported_when_it_begins_and_when_a_clean_tick_follows_the_reopening() {
        let mut watch = DeviceWatch::new(None);
        watch.open(device("default"));
        assert!(!watch.watching());
        assert!(watch.lose(), "the outage begins");
        assert!(!watch.lose(), "still the same outage");
        assert!(watch.opened().is_none() && watch.watching() && !watch.restored());
        watch.open(device("default"));
        watch.reopened();
        assert!(watch.restored(), "back");
        assert!(!watch.restored(), "said once");
        assert!(!watch.watching());
    }

    #[test]
    fn a_device_lost_again_right_after_reopening_stays_one_outage() {
        let mut watch = DeviceWatch::new(None);
        watch.lose();
        watch.open(device("default"));
        watch.reopened();
        assert!(!watch.lose(), "the error came before a clean tick");
        assert!(!watch.restored());
    }

    #[test]
    fn retries_back_off_from_half_a_second_to_eight() {
        let mut watch = DeviceWatch::new(Some("none".into()));
        watch.lose();
        let waits: Vec<Duration> = (0..6)
            .map(|_| {
                let wait = watch.retry.unwrap().1;
                watch.back_off();
                wait
            })
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000].map(Duration::from_millis));
        assert!(!watch.retry_due(), "the next is 8 s away");
        assert_eq!(watch.want(None).as_deref(), Some("none"));
        assert_eq!(watch.wanted(), None);
    }
}
