//! Times in the reader's local time: `HH:MM` of a message, and the dates of sessions
//! (`today 09:26`, `2025-11-21 09:26`), from a server timestamp and the browser's time
//! zone offset (JavaScript's `Date.getTimezoneOffset`, minutes *behind* UTC: -60 in
//! Paris in winter, 300 in New York).

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// The local wall-clock time `HH:MM` of `ts_ms` (milliseconds since the Unix epoch, UTC)
/// for a zone `offset_minutes` behind UTC.
pub fn local_hh_mm(ts_ms: i64, offset_minutes: i32) -> String {
    let local = ts_ms.saturating_sub(i64::from(offset_minutes) * 60_000);
    let in_day = local.rem_euclid(DAY_MS) / 60_000;
    format!("{:02}:{:02}", in_day / 60, in_day % 60)
}

/// The local calendar day of `ts_ms` (days since 1970-01-01) for a zone `offset_minutes`
/// behind UTC.
fn local_day(ts_ms: i64, offset_minutes: i32) -> i64 {
    ts_ms
        .saturating_sub(i64::from(offset_minutes) * 60_000)
        .div_euclid(DAY_MS)
}

/// The proleptic Gregorian date (year, month, day) of a day number (days since
/// 1970-01-01); Howard Hinnant's `civil_from_days`.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// When `ts_ms` was, seen at `now_ms`, in local time: `today 09:26`, `yesterday 09:26`,
/// or `2025-11-21 09:26` (session lists: created, last seen).
pub fn local_when(ts_ms: i64, now_ms: i64, offset_minutes: i32) -> String {
    let time = local_hh_mm(ts_ms, offset_minutes);
    let day = local_day(ts_ms, offset_minutes);
    match local_day(now_ms, offset_minutes) - day {
        0 => format!("today {time}"),
        1 => format!("yesterday {time}"),
        _ => {
            let (year, month, day) = civil(day);
            format!("{year:04}-{month:02}-{day:02} {time}")
        }
    }
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

    #[test]
    fn dates_of_sessions() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(19_723), (2024, 1, 1));
        assert_eq!(civil(19_782), (2024, 2, 29));
        assert_eq!(local_when(TS, TS + 60_000, 0), "today 08:26");
        assert_eq!(local_when(TS, TS + DAY_MS, 0), "yesterday 08:26");
        assert_eq!(local_when(TS, TS + 3 * DAY_MS, -60), "2025-11-22 09:26");
        // Nine hours behind UTC it was 23:26 on the day before.
        assert_eq!(local_when(TS, TS + 3 * DAY_MS, 540), "2025-11-21 23:26");
        assert_eq!(local_when(TS, TS, 540), "today 23:26");
    }
}
