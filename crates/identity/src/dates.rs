//! Calendar arithmetic for the HR and activity feeds.
//!
//! Hand-written (Howard Hinnant's `days_from_civil`) rather than pulling in `time` or
//! `chrono`: the feeds only need proleptic Gregorian dates in UTC, and a strict parser
//! that rejects `2024-02-30` is a dozen lines.

use crate::model::{Time, DAY};

/// Seconds of `YYYY-MM-DD` at 00:00 UTC, or `None` unless it is a real calendar date.
#[must_use]
pub fn parse_date(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits(&b[0..4])?;
    let m = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    Some(days_from_civil(valid_ymd(y, m, d)?) * DAY)
}

/// `YYYY-MM-DD` of the UTC day that contains `t`.
#[must_use]
pub fn format_date(t: Time) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// A point in time as the activity feeds write it: RFC 3339 (`2024-05-01T08:30:00Z`,
/// offsets and fractions allowed, fractions dropped), `YYYY-MM-DD HH:MM:SS` in UTC, or
/// Unix seconds.
#[must_use]
pub fn parse_timestamp(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 12 && b.iter().all(u8::is_ascii_digit) {
        return digits(b);
    }
    if b.len() < 19 || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    let day = parse_date(s.get(..10)?)?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, se) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    // 60 admits a leap second; it lands on the next minute's first second.
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if let Some((&b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let (oh, om) = (digits(&[*oh1, *oh2])?, digits(&[*om1, *om2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    Some(day + h * 3600 + mi * 60 + se - offset)
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 {
        return None;
    }
    b.iter().try_fold(0i64, |acc, c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
}

fn valid_ymd(y: i64, m: i64, d: i64) -> Option<(i64, i64, i64)> {
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let len = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (d <= len).then_some((y, m, d))
}

fn days_from_civil((y, m, d): (i64, i64, i64)) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-02-29"), Some(19_782 * DAY));
        assert_eq!(format_date(19_782 * DAY + 5), "2024-02-29");
        for bad in ["2023-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "24-01-01", "2024-1-01", "2024-01-0x"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for day in (-700_000..2_900_000).step_by(997) {
            assert_eq!(parse_date(&format_date(day * DAY)), Some(day * DAY));
        }
    }

    #[test]
    fn timestamps_in_every_accepted_shape() {
        let t = parse_date("2024-05-01").unwrap() + 8 * 3600 + 30 * 60;
        assert_eq!(parse_timestamp("2024-05-01T08:30:00Z"), Some(t));
        assert_eq!(parse_timestamp("2024-05-01 08:30:00"), Some(t));
        assert_eq!(parse_timestamp("2024-05-01T08:30:00.123Z"), Some(t));
        assert_eq!(parse_timestamp("2024-05-01T14:00:00+05:30"), Some(t));
        assert_eq!(parse_timestamp(&t.to_string()), Some(t));
        for bad in ["", "2024-05-01", "2024-05-01T25:00:00Z", "2024-05-01T08:30:00+5:30", "2024-05-01T08:30:00.Z", "x"]
        {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
