//! Message times in the reader's local time: `HH:MM` from a server timestamp and the
//! browser's time zone offset (JavaScript's `Date.getTimezoneOffset`, minutes *behind*
//! UTC: -60 in Paris in winter, 300 in New York).

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// The local wall-clock time `HH:MM` of `ts_ms` (milliseconds since the Unix epoch, UTC)
/// for a zone `offset_minutes` behind UTC.
pub fn local_hh_mm(ts_ms: i64, offset_minutes: i32) -> String {
    let local = ts_ms.saturating_sub(i64::from(offset_minutes) * 60_000);
    let in_day = local.rem_euclid(DAY_MS) / 60_000;
    format!("{:02}:{:02}", in_day / 60, in_day % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-11-22 08:26:40.123 UTC.
    const TS: i64 = 1_763_800_000_123;

    #[test]
    fn utc_and_zones() {
        assert_eq!(local_hh_mm(TS, 0), "08:26");
        assert_eq!(local_hh_mm(TS, -60), "09:26"); // Paris, winter
        assert_eq!(local_hh_mm(TS, 300), "03:26"); // New York, winter
        assert_eq!(local_hh_mm(TS, -330), "13:56"); // India
        assert_eq!(local_hh_mm(TS, 540), "23:26"); // the day before
    }

    #[test]
    fn epoch_and_before() {
        assert_eq!(local_hh_mm(0, 0), "00:00");
        assert_eq!(local_hh_mm(-60_000, 0), "23:59");
        assert_eq!(local_hh_mm(i64::MIN, 0).len(), 5);
    }
}
