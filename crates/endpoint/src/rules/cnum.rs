//! The C library number parsing behind USBGuard's condition arguments, so that the
//! same arguments are accepted and read the same way.
//!
//! - `localtime(...)` (`LocaltimeCondition::stringToDaytime`) tries glibc
//!   `strptime(s, "%H:%M:%s")`, then `strptime(s, "%H:%M")`, on one `struct tm`.
//!   Note `%s` (seconds since the epoch, through `localtime_r`), not `%S`, and
//!   that `strptime` ignores what follows the format: `08:60` is 08:06 and a `0`
//!   left over. Fields skip leading white space and read at most two digits, and
//!   stop early when another digit would leave the range (`3x` for `%H` reads `3`).
//! - `rule-applied(...)`/`rule-evaluated(...)` (`stringToSeconds`) add a third
//!   try, `strptime(s, "%s")`.
//! - `random(...)` reads its argument with `std::stod`, i.e. `strtod` in the C
//!   locale: leading white space, sign, decimal or hex float, `inf`, `nan`;
//!   trailing text ignored; overflow and underflow (`ERANGE`) refused.
//!
//! `%s` goes through `localtime_r` in the process time zone; we use UTC (the
//! differential test runs `usbguard-rule-parser` with `TZ=UTC`). As in glibc, a
//! `localtime_r` that fails (year out of `int` range) still leaves the time of day
//! in the `struct tm`, which the `%H:%M` retry keeps as seconds.
//!
//! The arguments are C strings there: they end at the first NUL.

/// The time-of-day fields of a `struct tm`.
#[derive(Default, Clone, Copy)]
struct Tm {
    hour: i64,
    min: i64,
    sec: i64,
}

#[derive(Clone, Copy)]
enum Field {
    /// `%H`
    Hour,
    /// `%M`
    Minute,
    /// `%s`
    Epoch,
    /// a literal `:`
    Colon,
}

const HMS: [Field; 5] = [Field::Hour, Field::Colon, Field::Minute, Field::Colon, Field::Epoch];
const HM: [Field; 3] = [Field::Hour, Field::Colon, Field::Minute];
const S: [Field; 1] = [Field::Epoch];

fn c_str(s: &[u8]) -> &[u8] {
    s.iter().position(|&c| c == 0).and_then(|n| s.get(..n)).unwrap_or(s)
}

/// `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `LocaltimeCondition::stringToDaytime`: seconds since midnight.
pub(crate) fn daytime(s: &[u8]) -> Option<u32> {
    let s = c_str(s);
    let mut tm = Tm::default();
    let ok = strptime(s, &HMS, &mut tm) || strptime(s, &HM, &mut tm);
    ok.then(|| u32::try_from(tm.sec + 60 * tm.min + 3600 * tm.hour).unwrap_or_default())
}

/// `RuleEvaluatedCondition::stringToSeconds` for a non-empty argument.
pub(crate) fn seconds(s: &[u8]) -> Option<u64> {
    let s = c_str(s);
    let mut tm = Tm::default();
    let ok = strptime(s, &HMS, &mut tm) || strptime(s, &HM, &mut tm) || strptime(s, &S, &mut tm);
    ok.then(|| u64::try_from(tm.sec + 60 * tm.min + 3600 * tm.hour).unwrap_or_default())
}

/// `std::stod`: `None` where it throws (no number, or out of range).
pub(crate) fn probability(s: &[u8]) -> Option<f64> {
    strtod(c_str(s))
}

/// The subset of glibc `strptime` the conditions use.
fn strptime(s: &[u8], fmt: &[Field], tm: &mut Tm) -> bool {
    let mut i = 0;
    for f in fmt {
        match f {
            Field::Colon => {
                if s.get(i) != Some(&b':') {
                    return false;
                }
                i += 1;
            }
            Field::Hour => match get_number(s, &mut i, 23) {
                Some(v) => tm.hour = v,
                None => return false,
            },
            Field::Minute => match get_number(s, &mut i, 59) {
                Some(v) => tm.min = v,
                None => return false,
            },
            Field::Epoch => {
                if !s.get(i).is_some_and(u8::is_ascii_digit) {
                    return false;
                }
                // glibc accumulates in a time_t without an overflow check.
                let mut secs: i64 = 0;
                while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
                    secs = secs.wrapping_mul(10).wrapping_add(i64::from(d - b'0'));
                    i += 1;
                }
                if !localtime_utc(secs, tm) {
                    return false;
                }
            }
        }
    }
    true
}

/// glibc's `get_number(0, to, 2)` macro.
fn get_number(s: &[u8], i: &mut usize, to: i64) -> Option<i64> {
    while s.get(*i).copied().is_some_and(is_space) {
        *i += 1;
    }
    let digit = |i: usize| s.get(i).filter(|c| c.is_ascii_digit()).map(|d| i64::from(d - b'0'));
    let mut val = digit(*i)?;
    *i += 1;
    if val * 10 <= to {
        if let Some(d) = digit(*i) {
            val = val * 10 + d;
            *i += 1;
        }
    }
    (val <= to).then_some(val)
}

/// `localtime_r` in UTC, as glibc's `__offtime`: the time of day is stored before
/// the year is checked against `int`, so it is set even when the call fails.
fn localtime_utc(secs: i64, tm: &mut Tm) -> bool {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    tm.hour = rem / 3600;
    tm.min = rem % 3600 / 60;
    tm.sec = rem % 60;
    // tm_year = year - 1900 must fit an int.
    let year = civil_year(days);
    (i64::from(i32::MIN) + 1900..=i64::from(i32::MAX) + 1900).contains(&year)
}

/// The proleptic Gregorian year of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_year(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    yoe + era * 400 + i64::from(mp >= 10)
}

fn starts_with_ci(s: &[u8], word: &[u8]) -> bool {
    s.get(..word.len()).is_some_and(|p| p.eq_ignore_ascii_case(word))
}

/// `strtod` in the C locale, as `std::stod` uses it: the longest number at the
/// start (after white space); `None` when there is none or it is out of range.
fn strtod(s: &[u8]) -> Option<f64> {
    let mut i = 0;
    while s.get(i).copied().is_some_and(is_space) {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = s.get(i..).unwrap_or_default();
    let magnitude = if starts_with_ci(rest, b"inf") {
        f64::INFINITY
    } else if starts_with_ci(rest, b"nan") {
        f64::NAN
    } else if starts_with_ci(rest, b"0x") {
        hex_float(rest.get(2..).unwrap_or_default())?
    } else {
        decimal_float(rest)?
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn decimal_float(s: &[u8]) -> Option<f64> {
    let mut i = 0;
    let mut digits = 0;
    let mut nonzero = false;
    let mut seen_point = false;
    while let Some(&c) = s.get(i) {
        if c.is_ascii_digit() {
            digits += 1;
            nonzero |= c != b'0';
        } else if c == b'.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if s.get(j).is_some_and(u8::is_ascii_digit) {
            while s.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            i = j;
        }
    }
    let text = std::str::from_utf8(s.get(..i)?).ok()?;
    let v: f64 = text.parse().ok()?;
    // ERANGE: overflow, or underflow to zero or into the subnormals (a decimal
    // that is exactly a subnormal needs hundreds of digits; taken as inexact).
    if v.is_infinite() || (v == 0.0 && nonzero) || (v != 0.0 && v < f64::MIN_POSITIVE) {
        return None;
    }
    Some(v)
}

/// The digits after `0x`. Without a hex digit (`0x`, `0xz`) glibc reads just the
/// `0`.
fn hex_float(s: &[u8]) -> Option<f64> {
    let starts = s.first().is_some_and(u8::is_ascii_hexdigit)
        || (s.first() == Some(&b'.') && s.get(1).is_some_and(u8::is_ascii_hexdigit));
    if !starts {
        return Some(0.0);
    }
    let mut mant: u128 = 0;
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut seen_point = false;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = char::from(c).to_digit(16) {
            if mant >> 120 == 0 {
                mant = mant << 4 | u128::from(d);
                if seen_point {
                    exp -= 4;
                }
            } else {
                sticky |= d != 0;
                if !seen_point {
                    exp += 4;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let negative = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        if s.get(j).is_some_and(u8::is_ascii_digit) {
            let mut e: i64 = 0;
            while let Some(d) = s.get(j).filter(|c| c.is_ascii_digit()) {
                e = (e * 10 + i64::from(d - b'0')).min(1 << 40);
                j += 1;
            }
            exp += if negative { -e } else { e };
        }
    }
    if mant == 0 {
        return Some(0.0);
    }
    binary_to_f64(mant, exp, sticky)
}

/// `mant * 2^exp` (plus a non-zero tail when `sticky`) rounded to nearest even;
/// `None` on overflow, or on an inexact subnormal result (glibc's underflow).
fn binary_to_f64(mant: u128, exp: i64, sticky: bool) -> Option<f64> {
    let bits = 128 - i64::from(mant.leading_zeros());
    let mut e = exp + bits - 1;
    if e > 1023 {
        return None;
    }
    let keep = if e >= -1022 { 53 } else { 53 - (-1022 - e) };
    if keep <= 0 {
        return None;
    }
    let drop = bits - keep;
    let (mut m, inexact) = if drop <= 0 {
        (mant << (-drop), sticky)
    } else {
        let mask = (1u128 << drop) - 1;
        let rem = mant & mask;
        let half = 1u128 << (drop - 1);
        let m = mant >> drop;
        let up = rem > half || (rem == half && (sticky || m & 1 == 1));
        (m + u128::from(up), rem != 0 || sticky)
    };
    if e >= -1022 {
        if m >> 53 != 0 {
            m >>= 1;
            e += 1;
            if e > 1023 {
                return None;
            }
        }
        let biased = u64::try_from(e + 1023).ok()?;
        let fraction = u64::try_from(m).ok()? & ((1 << 52) - 1);
        Some(f64::from_bits(biased << 52 | fraction))
    } else {
        // Subnormal: `m` counts units of 2^-1074; 2^52 of them is the smallest
        // normal number, reached by rounding up (not tiny after rounding).
        if inexact && m < 1 << 52 {
            return None;
        }
        Some(f64::from_bits(u64::try_from(m).ok()?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn daytime_follows_glibc() {
        assert_eq!(daytime(b"08:00"), Some(8 * 3600));
        assert_eq!(daytime(b"8:00"), Some(8 * 3600));
        assert_eq!(daytime(b"08:60"), Some(8 * 3600 + 6 * 60));
        assert_eq!(daytime(b" 8: 05junk"), Some(8 * 3600 + 5 * 60));
        assert_eq!(daytime(b"08:00:30"), Some(30));
        assert_eq!(daytime(b"24:00"), None);
        assert_eq!(daytime(b"3x:00"), None);
        assert_eq!(daytime(b""), None);
        // %s overflows the year: the time of day of the failed localtime_r stays.
        assert_eq!(daytime(b"00:00:99999999999999999"), Some(39));
    }

    #[test]
    fn seconds_take_a_bare_number() {
        assert_eq!(seconds(b"5"), Some(5));
        assert_eq!(seconds(b"1:2"), Some(3720));
        assert_eq!(seconds(b"12abc"), Some(12));
        assert_eq!(seconds(b" 5"), None);
        assert_eq!(seconds(b"67768036191676799"), Some(86399));
        assert_eq!(seconds(b"67768036191676800"), None);
        assert_eq!(seconds(b"18446744073709551616"), Some(0));
    }

    #[test]
    fn strtod_edges() {
        assert_eq!(probability(b"0.5"), Some(0.5));
        assert_eq!(probability(b" +.5x"), Some(0.5));
        assert_eq!(probability(b"1e"), Some(1.0));
        assert_eq!(probability(b"0x"), Some(0.0));
        assert_eq!(probability(b"0x1p-2"), Some(0.25));
        // Subnormals: exact ones are fine, inexact ones are ERANGE (checked against
        // usbguard-rule-parser).
        assert_eq!(probability(b"0x1p-1070"), Some(f64::from_bits(1 << 4)));
        assert_eq!(probability(b"0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(probability(b"0x.8p-1073"), Some(f64::from_bits(1)));
        assert_eq!(probability(b"0x0.0000000000001p-1022"), Some(f64::from_bits(1)));
        assert_eq!(probability(b"0x1.8p-1074"), None);
        assert_eq!(probability(b"0x3p-1075"), None);
        assert_eq!(probability(b"0x1p-1080"), None);
        assert_eq!(probability(b"0x1p-1022"), Some(f64::MIN_POSITIVE));
        assert_eq!(probability(b"0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(probability(b"0x1.fffffffffffff8p1023"), None);
        assert_eq!(probability(b"0x1p1024"), None);
        assert_eq!(probability(b"0x1.00000000000008p0"), Some(1.0));
        assert_eq!(probability(b"0x.p1"), Some(0.0));
        assert_eq!(probability(b"0xp3"), Some(0.0));
        assert_eq!(probability(b"1e308"), Some(1e308));
        assert_eq!(probability(b"1.8e308"), None);
        assert_eq!(probability(b"1e-310"), None);
        assert_eq!(probability(b"INFx"), Some(f64::INFINITY));
        assert!(probability(b"nan").unwrap().is_nan());
        assert_eq!(probability(b"."), None);
        assert_eq!(probability(b"-"), None);
        assert_eq!(probability(b"\\x41"), None);
    }
}
