//! SWAR ("SIMD within a register"): byte classes of eight bytes at a time
//! with plain `u64` arithmetic, so the scan skips ordinary text without a
//! branch per byte and without `unsafe` intrinsics.
//!
//! Every per-byte mask here is exact: the subtractions are arranged so that
//! no borrow crosses from one byte into the next.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `b` (at least 8 long) as a little-endian word.
#[inline]
pub(crate) fn load8(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Whether any byte of `w` is an ASCII digit or `@` ("any" only: a borrow
/// can mark a higher byte only when a lower one is a hit already).
#[inline]
pub(crate) fn has_digit_or_at(w: u64) -> bool {
    let x = w ^ (LO * 0x30);
    let digit = x.wrapping_sub(LO * 10) & !x & HI;
    let y = w ^ (LO * u64::from(b'@'));
    let at = y.wrapping_sub(LO) & !y & HI;
    (digit | at) != 0
}

/// High bit of each byte of `w` set when the byte is in `lo..=hi` (ASCII).
#[inline]
fn in_range(w: u64, lo: u8, hi: u8) -> u64 {
    let low = w & !HI;
    // (low | 0x80) - lo >= 0x80 iff low >= lo; (0x80 | hi) - low >= 0x80 iff
    // low <= hi. Neither borrows across bytes.
    let ge = (low | HI).wrapping_sub(LO * u64::from(lo)) & HI;
    let le = (LO * (0x80 | u64::from(hi))).wrapping_sub(low) & HI;
    ge & le & !(w & HI)
}

/// One bit per byte from a high-bit mask: bit `k` = byte `k`.
#[inline]
fn gather(m: u64) -> u8 {
    (((m >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56) as u8
}

/// Bit `k` set when byte `k` of `w` is an ASCII letter.
#[inline]
pub(crate) fn letters8(w: u64) -> u8 {
    gather(in_range(w | (LO * 0x20), b'a', b'z'))
}

/// Bit `k` set when byte `k` of `w` is an ASCII digit or `@`.
#[inline]
pub(crate) fn digits_or_at8(w: u64) -> u8 {
    gather(in_range(w, b'0', b'9') | in_range(w, b'@', b'@'))
}

/// Bit `k` set when byte `k` of `w` is an ASCII letter or digit.
#[inline]
pub(crate) fn alnum8(w: u64) -> u8 {
    gather(in_range(w | (LO * 0x20), b'a', b'z') | in_range(w, b'0', b'9'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_exact_per_byte() {
        // Every byte value in every position, among neighbours of each class.
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut bytes = [b'a', b'0', b' ', b'Z', b'@', b'[', 0xC3, b'`'];
                bytes[pos] = b;
                let w = load8(&bytes);
                let (letters, alnum) = (letters8(w), alnum8(w));
                for (k, x) in bytes.iter().enumerate() {
                    assert_eq!(letters >> k & 1 == 1, x.is_ascii_alphabetic(), "letter {x:#x} at {k} in {bytes:?}");
                    assert_eq!(alnum >> k & 1 == 1, x.is_ascii_alphanumeric(), "alnum {x:#x} at {k} in {bytes:?}");
                }
                let any = bytes.iter().any(|x| x.is_ascii_digit() || *x == b'@');
                assert_eq!(has_digit_or_at(w), any, "{bytes:?}");
                let d = digits_or_at8(w);
                for (k, x) in bytes.iter().enumerate() {
                    assert_eq!(d >> k & 1 == 1, x.is_ascii_digit() || *x == b'@', "digit {x:#x} at {k} in {bytes:?}");
                }
            }
        }
    }
}
