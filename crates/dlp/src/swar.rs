//! Byte classes as bit masks, so the scan skips ordinary text without a
//! branch per byte and without `unsafe` intrinsics: [`masks64`] classifies a
//! 64-byte block with loops the compiler vectorises; [`alnum8`] does eight
//! bytes with plain `u64` arithmetic (SWAR, "SIMD within a register").
//!
//! Every per-byte mask here is exact: the SWAR subtractions are arranged so
//! that no borrow crosses from one byte into the next.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `b` (at least 8 long) as a little-endian word.
#[inline]
pub(crate) fn load8(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
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

/// Bit `k` set when byte `k` of `w` is an ASCII letter or digit.
#[inline]
pub(crate) fn alnum8(w: u64) -> u8 {
    gather(in_range(w | (LO * 0x20), b'a', b'z') | in_range(w, b'0', b'9'))
}

/// Byte classes of a 64-byte block as bit masks (bit `k` = byte `k`):
/// digits and `@`, letters, and letters that can begin a number word
/// (`z o t f s e n d`, either case). Written as plain loops over fixed-size
/// arrays, which the compiler turns into vector compares; much faster than
/// eight [`letters8`] calls.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Masks {
    pub(crate) digits: u64,
    pub(crate) letters: u64,
    pub(crate) starters: u64,
}

#[inline]
pub(crate) fn masks64(block: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (q, part) in block.chunks_exact(16).enumerate() {
        let (d, l, s) = masks16(part);
        m.digits |= u64::from(d) << (16 * q);
        m.letters |= u64::from(l) << (16 * q);
        m.starters |= u64::from(s) << (16 * q);
    }
    m
}

/// The three masks of 16 bytes; each loop is one vector compare and one
/// byte-mask move.
#[inline]
fn masks16(part: &[u8]) -> (u16, u16, u16) {
    let (mut d, mut l, mut s) = (0u16, 0u16, 0u16);
    for (k, &b) in part.iter().enumerate().take(16) {
        let low = b | 0x20;
        let digit = b.wrapping_sub(b'0') < 10 || b == b'@';
        let letter = low.wrapping_sub(b'a') < 26;
        // d-f, n-o, s-t, z as range tests (they vectorize; a table does not).
        let starter =
            low.wrapping_sub(b'd') < 3 || low.wrapping_sub(b'n') < 2 || low.wrapping_sub(b's') < 2 || low == b'z';
        d |= u16::from(digit) << k;
        l |= u16::from(letter) << k;
        s |= u16::from(starter) << k;
    }
    (d, l, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_masks_match_the_byte_tests() {
        let mut block = [0u8; 64];
        for round in 0..8u8 {
            for (k, b) in block.iter_mut().enumerate() {
                *b = (k as u8).wrapping_mul(37).wrapping_add(round.wrapping_mul(101));
            }
            let m = masks64(&block);
            for (k, &b) in block.iter().enumerate() {
                assert_eq!(m.digits >> k & 1 == 1, b.is_ascii_digit() || b == b'@', "{b:#x}");
                assert_eq!(m.letters >> k & 1 == 1, b.is_ascii_alphabetic(), "{b:#x}");
                let starter = b"zotfsendZOTFSEND".contains(&b);
                assert_eq!(m.starters >> k & 1 == 1, starter, "{b:#x}");
            }
        }
    }

    #[test]
    fn alnum_mask_is_exact_per_byte() {
        // Every byte value in every position, among neighbours of each class.
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut bytes = [b'a', b'0', b' ', b'Z', b'@', b'[', 0xC3, b'`'];
                bytes[pos] = b;
                let alnum = alnum8(load8(&bytes));
                for (k, x) in bytes.iter().enumerate() {
                    assert_eq!(alnum >> k & 1 == 1, x.is_ascii_alphanumeric(), "alnum {x:#x} at {k} in {bytes:?}");
                }
            }
        }
    }
}
