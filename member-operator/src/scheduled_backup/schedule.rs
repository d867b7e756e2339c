//! A ScheduledBackup's `spec.schedule` as times: the next firing after an instant, and the latest
//! firing inside a window (the one catch-up slot after downtime). Pure.
//!
//! The crate is croner (already the workspace's cron parser, used by admission): it reads
//! CloudNativePG's six-field format with seconds first (`Seconds::Required`), is maintained, and
//! searches backwards (`find_previous_occurrence`), so the latest missed slot after a long
//! downtime is one call instead of a walk over every slot missed. The `cron` crate parses the
//! same fields but only iterates forwards.
//!
//! Five-field schedules and descriptors are first normalised exactly as admission does
//! ([`pgfed_api::validation::formats::normalize_cron_schedule`]), so what admission accepted is
//! what runs. `@every <duration>` (CloudNativePG's robfig/cron extension, not cron syntax) is a
//! fixed interval counted from the last check.

use chrono::{DateTime, TimeDelta, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use pgfed_api::validation::formats::{normalize_cron_schedule, parse_duration};

/// A parsed schedule.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// A cron expression.
    Cron(Box<Cron>),
    /// `@every <duration>`: a fixed interval, at least one second.
    Every(TimeDelta),
}

/// Why `spec.schedule` is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("spec.schedule: {0}")]
pub struct ScheduleError(String);

impl Schedule {
    /// Parses `spec.schedule`.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let normal = normalize_cron_schedule(text).map_err(|e| ScheduleError(e.to_string()))?;
        if let Some(every) = normal.strip_prefix("@every ") {
            let d = parse_duration(every.trim()).map_err(|e| ScheduleError(e.to_string()))?;
            // Sub-second intervals are rounded up: backups are named to the second.
            let secs = i64::try_from(d.as_millis().div_ceil(1000))
                .unwrap_or(i64::MAX)
                .max(1);
            return Ok(Self::Every(TimeDelta::seconds(secs)));
        }
        CronParser::builder()
            .seconds(Seconds::Required)
            .build()
            .parse(&normal)
            .map(|c| Self::Cron(Box::new(c)))
            .map_err(|e| ScheduleError(format!("{text:?} is not a valid cron schedule: {e}")))
    }

    /// The first firing strictly after `after`; `None` when the schedule never fires again
    /// (e.g. `0 0 0 30 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Cron(c) => c.find_next_occurrence(&after, false).ok(),
            Self::Every(d) => after.checked_add_signed(*d),
        }
    }

    /// The latest firing in `(since, until]`: the one slot to catch up on, however many were
    /// missed. An interval counts from `since`.
    pub fn latest_in(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if until <= since {
            return None;
        }
        match self {
            Self::Cron(c) => c
                .find_previous_occurrence(&until, true)
                .ok()
                .filter(|t| *t > since),
            Self::Every(d) => {
                let step = d.num_seconds().max(1);
                let periods = (until - since).num_seconds() / step;
                (periods >= 1).then(|| since + TimeDelta::seconds(periods * step))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    #[test]
    fn six_fields_read_seconds_first_as_cloudnativepg_does() {
        let daily = Schedule::parse("0 0 0 * * *").expect("daily");
        assert_eq!(
            daily.next_after(at("2026-12-01T10:00:00Z")),
            Some(at("2026-12-02T00:00:00Z"))
        );
        let every_30s = Schedule::parse("*/30 * * * * *").expect("30s");
        assert_eq!(
            every_30s.next_after(at("2026-12-01T10:00:00Z")),
            Some(at("2026-12-01T10:00:30Z"))
        );
        // Five fields: CloudNativePG's reading (day of week left out), so daily at midnight.
        let five = Schedule::parse("0 0 0 * *").expect("five");
        assert_eq!(
            five.next_after(at("2026-12-01T10:00:00Z")),
            Some(at("2026-12-02T00:00:00Z"))
        );
        let hourly = Schedule::parse("@hourly").expect("hourly");
        assert_eq!(
            hourly.next_after(at("2026-12-01T10:20:00Z")),
            Some(at("2026-12-01T11:00:00Z"))
        );
    }

    #[test]
    fn bad_schedules_name_the_field() {
        for bad in [
            "* * *",
            "61 * * * * *",
            "0 0 0 * * mon-xyz",
            "@every 0s",
            "",
        ] {
            let err = Schedule::parse(bad).expect_err(bad);
            assert!(err.to_string().starts_with("spec.schedule: "), "{err}");
        }
    }

    #[test]
    fn the_latest_slot_of_a_window_is_the_only_catch_up() {
        let hourly = Schedule::parse("0 0 * * * *").expect("hourly");
        // Down from 10:30 to 15:10: 11:00 … 15:00 were missed; only 15:00 is returned.
        assert_eq!(
            hourly.latest_in(at("2026-12-01T10:30:00Z"), at("2026-12-01T15:10:00Z")),
            Some(at("2026-12-01T15:00:00Z"))
        );
        // The window is open at its start and closed at its end.
        assert_eq!(
            hourly.latest_in(at("2026-12-01T11:00:00Z"), at("2026-12-01T11:59:59Z")),
            None
        );
        assert_eq!(
            hourly.latest_in(at("2026-12-01T11:00:00Z"), at("2026-12-01T12:00:00Z")),
            Some(at("2026-12-01T12:00:00Z"))
        );
        let every = Schedule::parse("@every 1h").expect("every");
        assert_eq!(
            every.latest_in(at("2026-12-01T10:30:00Z"), at("2026-12-01T13:10:00Z")),
            Some(at("2026-12-01T12:30:00Z"))
        );
        assert_eq!(
            every.next_after(at("2026-12-01T10:30:00Z")),
            Some(at("2026-12-01T11:30:00Z"))
        );
    }

    #[test]
    fn a_schedule_that_never_fires_has_no_next_time() {
        let never = Schedule::parse("0 0 0 30 2 *").expect("parses");
        assert_eq!(never.next_after(at("2026-12-01T10:00:00Z")), None);
    }
}
