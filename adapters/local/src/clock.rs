//! The real clock, and the one test clock of the project.

use std::sync::Mutex;

use ai_message_core::domain::Timestamp;
use ai_message_core::ports::Clock;
use chrono::{DurationRound, TimeDelta, Utc};

/// Wall-clock UTC time, truncated to microseconds so that what storage returns equals what
/// was written.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let now = Utc::now();
        now.duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(now)
    }
}

/// A clock that tests move: frozen at an instant, or following the system clock, plus an
/// offset that only grows when the test says so. The one test clock of the project.
#[derive(Debug)]
pub struct ManualClock {
    /// `None`: the system clock.
    start: Option<Timestamp>,
    offset: Mutex<TimeDelta>,
}

impl ManualClock {
    /// Always `start` (plus what the test advanced).
    pub fn frozen_at(start: Timestamp) -> Self {
        Self {
            start: Some(start),
            offset: Mutex::new(TimeDelta::zero()),
        }
    }

    /// The system time, plus what the test advanced.
    pub fn following_system() -> Self {
        Self {
            start: None,
            offset: Mutex::new(TimeDelta::zero()),
        }
    }

    pub fn advance(&self, by: TimeDelta) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let offset = *self.offset.lock().unwrap_or_else(|p| p.into_inner());
        self.start.unwrap_or_else(|| SystemClock.now()) + offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_keeps_microseconds_only() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1000, 0);
    }

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let start = SystemClock.now();
        let clock = ManualClock::frozen_at(start);
        assert_eq!(clock.now(), start);
        clock.advance(TimeDelta::seconds(5));
        assert_eq!(clock.now(), start + TimeDelta::seconds(5));
    }
}
