//! Validators that turn "looks like PII" into "is structurally valid PII".
//!
//! A detector's regular expression finds candidates; these functions reject
//! candidates whose check digits, prefixes or lengths cannot belong to a real
//! identifier. That is what keeps the false-positive rate of a DLP scan low
//! enough for people to keep it switched on.
//!
//! # Input convention
//!
//! Every function takes **ASCII bytes** (`b'0'..=b'9'`, and `b'A'..=b'Z'` where
//! letters are allowed), exactly as they appear in scanned text, so a detector
//! can pass a sub-slice of its input without converting it. Separators (spaces,
//! dashes) are **not** accepted: the caller strips them first. Any byte outside
//! the documented alphabet makes a function return `false` / `None`; no function
//! panics or allocates, whatever the input.
//!
//! The checksum algorithms are hand-written because they are a few lines each
//! and the crates that provide them pull in allocation or string APIs we do not
//! want on the hot path.

/// Payment card brand, identified by IIN (issuer identification number) prefix
/// and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardBrand {
    /// Visa: prefix 4; lengths 13, 16, 19.
    Visa,
    /// Mastercard: 51-55 and 2221-2720; length 16.
    Mastercard,
    /// American Express: 34, 37; length 15.
    Amex,
    /// Discover: 6011, 644-649, 65, 622126-622925; lengths 16-19.
    Discover,
    /// JCB: 3528-3589; lengths 16-19.
    Jcb,
    /// Diners Club: 300-305, 36, 38-39; lengths 14-19.
    Diners,
    /// UnionPay: 62; lengths 16-19.
    UnionPay,
    /// Maestro: 5018, 5020, 5038, 5893, 6304, 6759, 6761-6763; lengths 12-19.
    Maestro,
    /// RuPay: 60, 65, 81, 82, 508, 353, 356; length 16.
    RuPay,
}

/// Luhn (mod 10) check over ASCII digits, the last digit being the check digit.
///
/// Why: every payment card number (and some other identifiers, e.g. IMEI) ends
/// in a Luhn check digit, so a candidate that fails it cannot be a card. Luhn
/// catches every single-digit error and most adjacent transpositions.
///
/// Returns `false` for fewer than 2 digits (a lone `0` passes the arithmetic but
/// is not a number with a check digit) and for any non-digit byte.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.len() < 2 {
        return false;
    }
    let mut sum = 0u32;
    for (i, &b) in digits.iter().rev().enumerate() {
        let Some(d) = digit(b) else { return false };
        sum += if i % 2 == 1 { LUHN_DOUBLE[usize::from(d)] } else { u32::from(d) };
    }
    sum.is_multiple_of(10)
}

/// The Luhn check digit (as a value 0-9) to append to `payload`, or `None` if
/// `payload` is empty or contains a non-digit. Used to generate test numbers.
pub fn luhn_check_digit(payload: &[u8]) -> Option<u8> {
    if payload.is_empty() {
        return None;
    }
    let mut sum = 0u32;
    // Position 0 (from the right) will be the check digit, so the payload's
    // rightmost digit sits at odd position 1 and is doubled.
    for (i, &b) in payload.iter().rev().enumerate() {
        let d = digit(b)?;
        sum += if i % 2 == 0 { LUHN_DOUBLE[usize::from(d)] } else { u32::from(d) };
    }
    // sum % 10 < 10, so the result fits in u8.
    Some(((10 - sum % 10) % 10) as u8)
}

/// Brand of a card number by IIN prefix and length, without checking Luhn.
///
/// Why: a 16-digit Luhn-valid string is valid one time in ten by chance;
/// requiring a real issuer prefix with a length that issuer uses removes most
/// of the rest (order numbers, timestamps, tracking codes).
///
/// Overlapping ranges are resolved deterministically by **longest matching
/// prefix**, and among equally long prefixes by the order of the
/// [`CardBrand`] variants (the order of the table below). Only ranges whose
/// length list admits `digits.len()` take part. Consequences:
/// - 6011 → Discover (4 digits beats RuPay's 60);
/// - 622126-622925 → Discover (6 digits beats UnionPay's 62);
/// - 353x / 356x → JCB (3528-3589, 4 digits, beats RuPay's 353 / 356);
/// - 65 → Discover (tie with RuPay's 65 at 2 digits; Discover comes first).
///
/// RuPay is therefore reported only for 60 (not 6011), 81, 82 and 508.
pub fn card_brand(digits: &[u8]) -> Option<CardBrand> {
    if !(12..=19).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len = digits.len();
    let mut best: Option<(usize, CardBrand)> = None;
    for r in IIN_RANGES {
        if r.lengths & (1 << len) == 0 {
            continue;
        }
        let Some(p) = prefix_value(digits, r.prefix_len) else { continue };
        if p < r.lo || p > r.hi {
            continue;
        }
        // Strictly longer wins; equal length keeps the earlier table entry.
        if best.is_none_or(|(best_len, _)| r.prefix_len > best_len) {
            best = Some((r.prefix_len, r.brand));
        }
    }
    best.map(|(_, brand)| brand)
}

/// A card number: a known brand prefix and length ([`card_brand`]) **and** a
/// valid Luhn check digit ([`luhn`]).
///
/// Why both: either check alone lets through about one random number in ten.
pub fn is_card(digits: &[u8]) -> Option<CardBrand> {
    card_brand(digits).filter(|_| luhn(digits))
}

/// US Social Security Number from its three parts (AAA-GG-SSSS).
///
/// Why: SSNs carry no check digit, so the only structural filter is the set of
/// numbers the SSA never issues: area 000, 666 and 900-999 (the 9xx block is
/// ITINs and never SSNs), group 00 and serial 0000. Two numbers printed in
/// advertising and widely copied (078-05-1120 from a 1938 wallet insert,
/// 219-09-9999 from a 1940 SSA pamphlet) are rejected too: they appear in
/// sample documents far more often than as anyone's real SSN.
pub fn ssn_valid(area: u16, group: u8, serial: u16) -> bool {
    let structural =
        (1..=899).contains(&area) && area != 666 && (1..=99).contains(&group) && (1..=9999).contains(&serial);
    structural && !matches!((area, group, serial), (78, 5, 1120) | (219, 9, 9999))
}

/// US SSN as 9 ASCII digits without dashes; see [`ssn_valid`] for the rules.
pub fn ssn_digits(digits: &[u8]) -> bool {
    let [a0, a1, a2, g0, g1, s0, s1, s2, s3] = *digits else { return false };
    let (Some(area), Some(group), Some(serial)) = (number(&[a0, a1, a2]), number(&[g0, g1]), number(&[s0, s1, s2, s3]))
    else {
        return false;
    };
    // area < 1000, group < 100, serial < 10000 by construction.
    ssn_valid(area as u16, group as u8, serial as u16)
}

/// Verhoeff check over ASCII digits, the last digit being the check digit.
///
/// Why: Aadhaar (and some other national IDs) use the Verhoeff dihedral-group
/// scheme, which unlike Luhn detects **every** single-digit error and
/// **every** adjacent transposition, so it rejects random digit runs very
/// reliably. Returns `false` for fewer than 2 digits or any non-digit.
pub fn verhoeff(digits: &[u8]) -> bool {
    if digits.len() < 2 {
        return false;
    }
    let mut c = 0u8;
    for (i, &b) in digits.iter().rev().enumerate() {
        let Some(d) = digit(b) else { return false };
        c = VERHOEFF_D[usize::from(c)][usize::from(VERHOEFF_P[i % 8][usize::from(d)])];
    }
    c == 0
}

/// The Verhoeff check digit (as a value 0-9) to append to `payload`, or `None`
/// if `payload` is empty or contains a non-digit. Used to generate test numbers.
pub fn verhoeff_check_digit(payload: &[u8]) -> Option<u8> {
    if payload.is_empty() {
        return None;
    }
    let mut c = 0u8;
    // The check digit will take position 0, so the payload starts at 1.
    for (i, &b) in payload.iter().rev().enumerate() {
        let d = digit(b)?;
        c = VERHOEFF_D[usize::from(c)][usize::from(VERHOEFF_P[(i + 1) % 8][usize::from(d)])];
    }
    Some(VERHOEFF_INV[usize::from(c)])
}

/// Indian Aadhaar number: 12 ASCII digits, first digit 2-9, Verhoeff-valid.
///
/// Why: UIDAI never issues Aadhaar numbers starting with 0 or 1 (keeping them
/// apart from other 12-digit numbers), and the last digit is a Verhoeff check
/// digit.
pub fn aadhaar(digits: &[u8]) -> bool {
    digits.len() == 12 && matches!(digits[0], b'2'..=b'9') && verhoeff(digits)
}

/// Indian Permanent Account Number (income-tax PAN): `AAAAA9999A`, uppercase.
///
/// Why: the format is fixed by the Income Tax Department: three letters of an
/// alphabetic series, one letter for the holder's status, one letter (initial
/// of the surname or of the entity's name), four digits, one check letter. The
/// status letter is the strongest filter, since only ten values are issued:
/// - `P` person (individual),
/// - `C` company,
/// - `H` Hindu undivided family (HUF),
/// - `F` firm (including limited liability partnership),
/// - `A` association of persons (AOP),
/// - `T` trust,
/// - `B` body of individuals (BOI),
/// - `L` local authority,
/// - `J` artificial juridical person,
/// - `G` government (agency).
///
/// The algorithm of the final check letter is not published, so it is only
/// required to be a letter.
pub fn pan(text: &[u8]) -> bool {
    let [a, b, c, status, initial, d0, d1, d2, d3, check] = *text else { return false };
    [a, b, c, initial, check].iter().all(u8::is_ascii_uppercase)
        && [d0, d1, d2, d3].iter().all(u8::is_ascii_digit)
        && matches!(status, b'P' | b'C' | b'H' | b'F' | b'A' | b'T' | b'B' | b'L' | b'J' | b'G')
}

/// International Bank Account Number (ISO 13616) in electronic form: uppercase
/// country code, two check digits, then the BBAN, **without spaces**.
///
/// Why: the country fixes the total length, and the ISO 7064 mod-97-10 check
/// (rearranged number mod 97 == 1) catches all single-character errors and
/// nearly all transpositions. The printed form groups characters by four with
/// spaces (`GB82 WEST 1234 ...`); the **caller strips the spaces** (and
/// uppercases, if it wants to accept lowercase) before calling. Check digits
/// 00, 01 and 99 are never issued (they alias 97, 98 and 02) and are rejected.
///
/// Only countries with a length in [`iban_length`] are accepted. India does
/// not use IBAN (it uses IFSC + account number), so `IN...` is always rejected.
pub fn iban(text: &[u8]) -> bool {
    let [c0, c1, k0, k1, ..] = *text else { return false };
    if iban_length([c0, c1]) != Some(text.len()) {
        return false;
    }
    let (Some(k0), Some(k1)) = (digit(k0), digit(k1)) else { return false };
    if matches!((k0, k1), (0, 0) | (0, 1) | (9, 9)) {
        return false;
    }
    // Rearranged: BBAN, country code, check digits; letters count as 10-35.
    // The remainder is folded in one character at a time so that no big
    // integer is needed (the value stays below 97 * 100 + 35).
    let mut rem = 0u32;
    for &b in text[4..].iter().chain(&text[..4]) {
        rem = match b {
            b'0'..=b'9' => (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(b - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// Total IBAN length for an uppercase ISO 3166 country code, or `None` if the
/// country does not issue IBANs (or is not in this table).
///
/// Why: the length check alone rejects most mistyped or truncated IBANs before
/// the checksum runs. The table covers all SEPA countries plus the non-SEPA
/// IBAN countries whose length is certain; it is deliberately incomplete rather
/// than guessed.
pub fn iban_length(country: [u8; 2]) -> Option<usize> {
    let len = match &country {
        // SEPA
        b"AD" => 24,
        b"AT" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"CH" => 21,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DK" => 18,
        b"EE" => 20,
        b"ES" => 24,
        b"FI" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GI" => 23,
        b"GR" => 27,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IS" => 26,
        b"IT" => 27,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"MC" => 27,
        b"MT" => 31,
        b"NL" => 18,
        b"NO" => 15,
        b"PL" => 28,
        b"PT" => 25,
        b"RO" => 24,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"VA" => 22,
        // Non-SEPA
        b"AE" => 23,
        b"AL" => 28,
        b"AZ" => 28,
        b"BA" => 20,
        b"BH" => 22,
        b"BR" => 29,
        b"BY" => 28,
        b"CR" => 22,
        b"DO" => 28,
        b"EG" => 29,
        b"FO" => 18,
        b"GE" => 22,
        b"GL" => 18,
        b"GT" => 28,
        b"IL" => 23,
        b"IQ" => 23,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LC" => 32,
        b"LY" => 25,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MR" => 27,
        b"MU" => 30,
        b"PK" => 24,
        b"PS" => 29,
        b"QA" => 29,
        b"RS" => 22,
        b"RU" => 33,
        b"SA" => 24,
        b"SC" => 31,
        b"SD" => 18,
        b"ST" => 25,
        b"SV" => 28,
        b"TL" => 23,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VG" => 24,
        b"XK" => 20,
        _ => return None,
    };
    Some(len)
}

/// US ABA routing transit number: 9 ASCII digits.
///
/// Why: the ninth digit is a check digit with weights 3-7-1
/// (3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 mod 10), and the first two
/// digits are restricted to the ranges the Federal Reserve assigns: 00
/// (US government), 01-12 (the twelve Federal Reserve districts), 21-32
/// (thrift institutions, district + 20), 61-72 (electronic transactions,
/// district + 60) and 80 (traveller's cheques). `000000000` passes both
/// arithmetic rules but is never a routing number, so it is rejected.
pub fn aba_routing(digits: &[u8]) -> bool {
    let Some(ds) = digit_values::<9>(digits) else { return false };
    if ds == [0; 9] {
        return false;
    }
    let prefix = ds[0] * 10 + ds[1];
    if !matches!(prefix, 0..=12 | 21..=32 | 61..=72 | 80) {
        return false;
    }
    let sum = 3 * (u32::from(ds[0]) + u32::from(ds[3]) + u32::from(ds[6]))
        + 7 * (u32::from(ds[1]) + u32::from(ds[4]) + u32::from(ds[7]))
        + (u32::from(ds[2]) + u32::from(ds[5]) + u32::from(ds[8]));
    sum.is_multiple_of(10)
}

// ---------------------------------------------------------------------------
// Helpers and tables
// ---------------------------------------------------------------------------

/// Value of an ASCII digit.
fn digit(b: u8) -> Option<u8> {
    b.is_ascii_digit().then(|| b - b'0')
}

/// Decimal value of a short run of ASCII digits (at most 9, so it fits u32).
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &b| Some(acc * 10 + u32::from(digit(b)?)))
}

/// Decimal value of the first `n` digits, if there are that many.
fn prefix_value(digits: &[u8], n: usize) -> Option<u32> {
    digits.get(..n).and_then(number)
}

/// Values of exactly `N` ASCII digits.
fn digit_values<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, &b) in out.iter_mut().zip(digits) {
        *slot = digit(b)?;
    }
    Some(out)
}

/// Luhn doubling: 2·d with its digits summed.
const LUHN_DOUBLE: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];

/// Bitmask of valid lengths: bit `n` set means length `n` is issued.
const fn lengths(min: u32, max: u32) -> u32 {
    let mut mask = 0;
    let mut n = min;
    while n <= max {
        mask |= 1 << n;
        n += 1;
    }
    mask
}

struct IinRange {
    brand: CardBrand,
    prefix_len: usize,
    lo: u32,
    hi: u32,
    lengths: u32,
}

const fn iin(brand: CardBrand, prefix_len: usize, lo: u32, hi: u32, lengths: u32) -> IinRange {
    IinRange { brand, prefix_len, lo, hi, lengths }
}

/// IIN table in [`CardBrand`] variant order, which breaks equal-prefix ties.
const IIN_RANGES: &[IinRange] = {
    use CardBrand::*;
    const VISA: u32 = (1 << 13) | (1 << 16) | (1 << 19);
    &[
        iin(Visa, 1, 4, 4, VISA),
        iin(Mastercard, 2, 51, 55, lengths(16, 16)),
        iin(Mastercard, 4, 2221, 2720, lengths(16, 16)),
        iin(Amex, 2, 34, 34, lengths(15, 15)),
        iin(Amex, 2, 37, 37, lengths(15, 15)),
        iin(Discover, 4, 6011, 6011, lengths(16, 19)),
        iin(Discover, 3, 644, 649, lengths(16, 19)),
        iin(Discover, 2, 65, 65, lengths(16, 19)),
        iin(Discover, 6, 622126, 622925, lengths(16, 19)),
        iin(Jcb, 4, 3528, 3589, lengths(16, 19)),
        iin(Diners, 3, 300, 305, lengths(14, 19)),
        iin(Diners, 2, 36, 36, lengths(14, 19)),
        iin(Diners, 2, 38, 39, lengths(14, 19)),
        iin(UnionPay, 2, 62, 62, lengths(16, 19)),
        iin(Maestro, 4, 5018, 5018, lengths(12, 19)),
        iin(Maestro, 4, 5020, 5020, lengths(12, 19)),
        iin(Maestro, 4, 5038, 5038, lengths(12, 19)),
        iin(Maestro, 4, 5893, 5893, lengths(12, 19)),
        iin(Maestro, 4, 6304, 6304, lengths(12, 19)),
        iin(Maestro, 4, 6759, 6759, lengths(12, 19)),
        iin(Maestro, 4, 6761, 6763, lengths(12, 19)),
        iin(RuPay, 2, 60, 60, lengths(16, 16)),
        iin(RuPay, 2, 65, 65, lengths(16, 16)),
        iin(RuPay, 2, 81, 82, lengths(16, 16)),
        iin(RuPay, 3, 508, 508, lengths(16, 16)),
        iin(RuPay, 3, 353, 353, lengths(16, 16)),
        iin(RuPay, 3, 356, 356, lengths(16, 16)),
    ]
};

/// Verhoeff multiplication table of the dihedral group D5.
const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

/// Verhoeff position permutation table (row `i` = permutation applied `i` times).
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// Verhoeff inverse table.
const VERHOEFF_INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

#[cfg(test)]
mod tests {
    use super::*;

    /// The position permutation rows must be successive powers of row 1, and
    /// `inv` must invert `d`; a typo in a hand-copied table would break both.
    #[test]
    fn verhoeff_tables_are_consistent() {
        for (i, pair) in VERHOEFF_P.windows(2).enumerate() {
            for (x, &prev) in pair[0].iter().enumerate() {
                assert_eq!(pair[1][x], VERHOEFF_P[1][usize::from(prev)], "p[{}][{x}]", i + 1);
            }
        }
        for (j, row) in VERHOEFF_D.iter().enumerate() {
            assert_eq!(row[usize::from(VERHOEFF_INV[j])], 0, "inv[{j}]");
        }
    }
}
