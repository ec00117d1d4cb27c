//! Wall-clock helpers: milliseconds since the Unix epoch, JavaScript's
//! `Date.prototype.toISOString` format.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The latest time a JavaScript `Date` holds, 8.64e15 ms after the epoch
/// (`+275760-09-13T00:00:00.000Z`).
pub(crate) const MAX_MS: u64 = 8_640_000_000_000_000;

/// Milliseconds since the Unix epoch, as JavaScript's `Date.now()`.
pub(crate) fn now_ms() -> u64 {
    to_ms(SystemTime::now())
}

pub(crate) fn to_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `2026-11-28T09:29:11.249Z`, as `Date.prototype.toISOString`: past year
/// 9999 the year takes a sign and six digits (`+010000-01-01T00:00:00.000Z`).
/// A time past [`MAX_MS`] is written as `MAX_MS`, so that JavaScript (and
/// [`parse_iso8601`]) can read back everything this writes.
pub(crate) fn iso8601(ms: u64) -> String {
    let ms = ms.min(MAX_MS);
    let secs = ms / 1000;
    // At most 1e8 days: no truncation.
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let (hour, minute, second, millis) = (rem / 3600, rem / 60 % 60, rem % 60, ms % 1000);
    if year > 9999 {
        format!("+{year:06}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
    }
}

/// Reads what `toISOString` writes, `YYYY-MM-DDTHH:MM:SS.sssZ` or, for years
/// outside 0 to 9999, `±YYYYYY-…`, and the looser UTC forms of that format
/// that `Date.parse` also reads the same way (no seconds, any number of
/// fraction digits, `24:00`, days past the month's end). `None` for whatever
/// `Date.parse` would turn into `NaN`: a leap second, a time outside a
/// JavaScript `Date`'s ±[`MAX_MS`]. Times before the epoch, which JavaScript
/// holds but a stored `u64` cannot, read as the epoch itself.
pub(crate) fn parse_iso8601(text: &str) -> Option<u64> {
    let mut rest = text.as_bytes();
    let year = match rest.first()? {
        sign @ (b'+' | b'-') => {
            let negative = *sign == b'-';
            rest = rest.get(1..)?;
            let year = digits(&mut rest, 6)?;
            // `-000000` is the one spelling of year 0 that the format forbids.
            if negative && year == 0 {
                return None;
            }
            if negative { -year } else { year }
        }
        _ => digits(&mut rest, 4)?,
    };
    let month = after(&mut rest, b'-', 2)?;
    let day = after(&mut rest, b'-', 2)?;
    let hour = after(&mut rest, b'T', 2)?;
    let minute = after(&mut rest, b':', 2)?;
    let (mut second, mut millis) = (0, 0);
    if rest.first() == Some(&b':') {
        second = after(&mut rest, b':', 2)?;
        if let Some(fraction) = rest.strip_prefix(b".") {
            rest = fraction;
            millis = fraction_ms(&mut rest)?;
        }
    }
    if rest != b"Z" {
        return None;
    }
    // Days past the month's end roll over, as in V8; 24:00 is the next midnight.
    let end_of_day = hour == 24 && minute == 0 && second == 0 && millis == 0;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || (hour > 23 && !end_of_day)
        || minute > 59
        || second > 59
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let ms = secs * 1000 + millis;
    // Within ±1e6 years: far from overflowing an i64.
    if ms.unsigned_abs() > MAX_MS {
        return None;
    }
    Some(u64::try_from(ms).unwrap_or(0))
}

/// `separator` then `count` ASCII digits.
fn after(rest: &mut &[u8], separator: u8, count: usize) -> Option<i64> {
    *rest = rest.strip_prefix(&[separator])?;
    digits(rest, count)
}

/// Exactly `count` ASCII digits, as a number.
fn digits(rest: &mut &[u8], count: usize) -> Option<i64> {
    let (head, tail) = rest.split_at_checked(count)?;
    let mut value = 0;
    for &byte in head {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    *rest = tail;
    Some(value)
}

/// One or more digits of a fraction of a second, as whole milliseconds:
/// digits past the third are cut, as `Date.parse` does.
fn fraction_ms(rest: &mut &[u8]) -> Option<i64> {
    let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 {
        return None;
    }
    let (fraction, tail) = rest.split_at_checked(len)?;
    *rest = tail;
    let mut millis = 0;
    for place in 0..3 {
        let digit = fraction.get(place).map_or(0, |b| i64::from(b - b'0'));
        millis = millis * 10 + digit;
    }
    Some(millis)
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip_matches_javascript() {
        // new Date(1795771751249).toISOString(), and one day later (node 20)
        assert_eq!(iso8601(1_795_771_751_249), "2026-11-27T09:29:11.249Z");
        assert_eq!(iso8601(1_795_858_151_249), "2026-11-28T09:29:11.249Z");
        assert_eq!(
            parse_iso8601("2026-11-28T09:29:11.249Z"),
            Some(1_795_858_151_249)
        );
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_iso8601("2000-02-29T23:59:59Z"), Some(951_868_799_000));
        for ms in [0, 951_868_799_000, 4_102_444_800_123, 1_700_000_000_007] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms));
        }
    }

    #[test]
    fn iso_rejects_garbage() {
        for bad in [
            "",
            "2026-11-28",
            "2026-13-28T09:29:11.249Z",
            "2026-11-28T09:29:11.249",
            "abcd-11-28T09:29:11.249Z",
            "2026-11-28T09:29:11.Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    // Each expected value is what node 20 prints for `Date.parse(text)` or
    // `new Date(ms).toISOString()`.

    #[test]
    fn years_past_9999_are_written_and_read_as_javascript_writes_them() {
        assert_eq!(iso8601(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(iso8601(253_402_300_800_000), "+010000-01-01T00:00:00.000Z");
        assert_eq!(iso8601(MAX_MS), "+275760-09-13T00:00:00.000Z");
        assert_eq!(
            parse_iso8601("+010000-01-01T00:00:00.000Z"),
            Some(253_402_300_800_000)
        );
        assert_eq!(parse_iso8601("+275760-09-13T00:00:00.000Z"), Some(MAX_MS));
        assert_eq!(
            parse_iso8601("+002026-01-01T00:00:00.000Z"),
            Some(1_767_225_600_000)
        );
    }

    #[test]
    fn times_past_what_a_javascript_date_holds_are_clamped_when_written() {
        assert_eq!(iso8601(MAX_MS + 1), "+275760-09-13T00:00:00.000Z");
        assert_eq!(iso8601(u64::MAX), "+275760-09-13T00:00:00.000Z");
    }

    #[test]
    fn what_javascript_rejects_is_rejected() {
        for bad in [
            // A leap second, and the last second of 9999 plus one.
            "2016-12-31T23:59:60.000Z",
            "9999-12-31T23:59:60Z",
            // Past the largest Date.
            "+275760-09-13T00:00:00.001Z",
            "+999999-01-01T00:00:00.000Z",
            // Five digits without a sign, a negative zero year, a short extended year.
            "10000-01-01T00:00:00.000Z",
            "-000000-01-01T00:00:00.000Z",
            "+10000-01-01T00:00:00.000Z",
            "2020-01-01T24:00:01Z",
            "2019-02-32T00:00:00Z",
            "2026-11-28T09:60:11Z",
            "2026-00-28T09:29:11Z",
            "2026-11-00T09:29:11Z",
            "2026-11-28T09:29:11.249Zx",
            "2026-11-28T09:29:11.2a9Z",
            "2026-11-28T09:29:1Z",
            "+2026-11-28T09:29:11Z",
            // A fraction needs seconds.
            "2026-11-28T09:29.5Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn what_javascript_accepts_past_to_iso_string_reads_the_same() {
        for (text, ms) in [
            // The end of a day as 24:00, the 30th of February as March the 2nd.
            ("2020-01-01T24:00:00Z", 1_577_923_200_000),
            ("2020-01-01T24:00:00.000Z", 1_577_923_200_000),
            ("2019-02-30T00:00:00Z", 1_551_484_800_000),
            ("2019-04-31T00:00:00Z", 1_556_668_800_000),
            // No seconds; fractions past milliseconds are cut, not rounded.
            ("2026-11-28T09:29Z", 1_795_858_140_000),
            ("2026-11-28T24:00Z", 1_795_910_400_000),
            ("2026-11-28T09:29:11.2Z", 1_795_858_151_200),
            ("2026-11-28T09:29:11.2499Z", 1_795_858_151_249),
            ("2026-11-28T09:29:11.1234567891Z", 1_795_858_151_123),
        ] {
            assert_eq!(parse_iso8601(text), Some(ms), "{text}");
        }
    }

    #[test]
    fn times_before_the_epoch_read_as_the_epoch() {
        // JavaScript reads them (an expired cookie); a stored time is unsigned.
        assert_eq!(parse_iso8601("1969-12-31T23:59:59.999Z"), Some(0));
        assert_eq!(parse_iso8601("-000001-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_iso8601("0000-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601("-271821-04-20T00:00:00.000Z"), Some(0));
        assert_eq!(parse_iso8601("-271821-04-19T23:59:59.999Z"), None);
    }

    #[test]
    fn calendar_edges() {
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (999, "1970-01-01T00:00:00.999Z"),
            (86_399_999, "1970-01-01T23:59:59.999Z"),
            // Leap days: 2000 (divisible by 400), 2024; 2100 is not a leap year.
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (951_868_800_000, "2000-03-01T00:00:00.000Z"),
            (1_709_164_800_000, "2024-02-29T00:00:00.000Z"),
            (4_107_456_000_000, "2100-02-28T00:00:00.000Z"),
            (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
            // Ends of years.
            (946_684_799_999, "1999-12-31T23:59:59.999Z"),
            (946_684_800_000, "2000-01-01T00:00:00.000Z"),
            (1_735_689_599_000, "2024-12-31T23:59:59.000Z"),
        ] {
            assert_eq!(iso8601(ms), text, "{ms}");
            assert_eq!(parse_iso8601(text), Some(ms), "{text}");
        }
        // The 29th of February of a common year is the 1st of March, as in JavaScript.
        assert_eq!(
            parse_iso8601("2100-02-29T00:00:00Z"),
            Some(4_107_542_400_000)
        );
    }
}
