//! Byte classes as bit masks, so the scan skips ordinary text without a
//! branch per byte: [`masks64`] classifies a 64-byte block with vector
//! compares and byte-mask moves (SSE2, or AVX2 when the build targets it,
//! through `safe_arch`; plain loops elsewhere).
//!
//! It also holds the 3-byte word-prefix hash ([`fold3`], [`slot3`]) with
//! which number words and context keywords are told from ordinary words.

/// The eight bytes of `b` (at least 8 long) as a little-endian word.
#[inline]
pub(crate) fn load8(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// The first three bytes of `b` with bit 0x20 set (ASCII letters folded to
/// lower case) as one number, for [`slot3`].
#[inline(always)]
pub(crate) fn fold3(b: &[u8; 3]) -> u32 {
    u32::from(b[0] | 0x20) | u32::from(b[1] | 0x20) << 8 | u32::from(b[2] | 0x20) << 16
}

/// Slot of a [`fold3`] value in a 1024-bit set: the top ten bits of a
/// multiplicative hash. Word prefilters test one bit here before any
/// string compare.
#[inline(always)]
pub(crate) const fn slot3(x: u32) -> usize {
    (x.wrapping_mul(0x9E37_79B1) >> 22) as usize
}

/// `set` with slot `h` (below 1024) added.
#[inline]
pub(crate) const fn with_slot(mut set: [u64; 16], h: usize) -> [u64; 16] {
    set[h >> 6] |= 1 << (h & 63);
    set
}

/// Whether slot `h` is set in `set`.
#[inline(always)]
pub(crate) fn has_slot(set: &[u64; 16], h: usize) -> bool {
    set[h >> 6] >> (h & 63) & 1 == 1
}

/// Byte classes of a 64-byte block as bit masks (bit `k` = byte `k`):
/// digits, `@`, letters, and letters that can begin a number word
/// (`z o t f s e n d`, either case). Written as plain loops over fixed-size
/// arrays, which the compiler turns into vector compares; much faster than
/// eight [`letters8`] calls.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Masks {
    pub(crate) digits: u64,
    pub(crate) at: u64,
    pub(crate) letters: u64,
    pub(crate) starters: u64,
}

#[inline]
pub(crate) fn masks64(block: &[u8; 64]) -> Masks {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    {
        let half = |h: usize| {
            let mut p = [0u8; 32];
            p.copy_from_slice(&block[32 * h..32 * h + 32]);
            masks32(&p)
        };
        let (a, b) = (half(0), half(1));
        let join = |x: u32, y: u32| u64::from(x) | u64::from(y) << 32;
        Masks { digits: join(a.0, b.0), at: join(a.1, b.1), letters: join(a.2, b.2), starters: join(a.3, b.3) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
    {
        let part = |q: usize| {
            let mut p = [0u8; 16];
            p.copy_from_slice(&block[16 * q..16 * q + 16]);
            masks16(&p)
        };
        let (a, b, c, d) = (part(0), part(1), part(2), part(3));
        let join = |x: u16, y: u16, z: u16, w: u16| {
            u64::from(x) | u64::from(y) << 16 | u64::from(z) << 32 | u64::from(w) << 48
        };
        Masks {
            digits: join(a.0, b.0, c.0, d.0),
            at: join(a.1, b.1, c.1, d.1),
            letters: join(a.2, b.2, c.2, d.2),
            starters: join(a.3, b.3, c.3, d.3),
        }
    }
}

/// Defines `$name`, the four masks of one vector of bytes (digits, `@`,
/// letters, number-word initials): range tests as `min` + compare, one
/// byte-mask move per class. Written once for SSE2 (16 bytes) and AVX2 (32).
#[cfg(target_arch = "x86_64")]
macro_rules! vector_masks {
    ($name:ident, $bytes:literal, $bits:ty, $vec:ty, $splat:path, $sub:path, $min:path, $eq:path, $or:path, $movemask:path) => {
        #[inline]
        fn $name(part: &[u8; $bytes]) -> ($bits, $bits, $bits, $bits) {
            let splat = |b: u8| $splat(b as i8);
            // Bytes `x - lo` at most `n` (unsigned): `lo..=lo + n`.
            let within = |x: $vec, lo: u8, n: u8| {
                let t = $sub(x, splat(lo));
                $eq($min(t, splat(n)), t)
            };
            let mask = |x: $vec| $movemask(x) as $bits;
            let v = <$vec>::from(*part);
            let low = $or(v, splat(0x20));
            let starter =
                $or($or(within(low, b'd', 2), within(low, b'n', 1)), $or(within(low, b's', 1), $eq(low, splat(b'z'))));
            (mask(within(v, b'0', 9)), mask($eq(v, splat(b'@'))), mask(within(low, b'a', 25)), mask(starter))
        }
    };
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
vector_masks!(
    masks32,
    32,
    u32,
    safe_arch::m256i,
    safe_arch::set_splat_i8_m256i,
    safe_arch::sub_i8_m256i,
    safe_arch::min_u8_m256i,
    safe_arch::cmp_eq_mask_i8_m256i,
    safe_arch::bitor_m256i,
    safe_arch::move_mask_i8_m256i
);

#[cfg(all(target_arch = "x86_64", target_feature = "sse2", not(target_feature = "avx2")))]
vector_masks!(
    masks16,
    16,
    u16,
    safe_arch::m128i,
    safe_arch::set_splat_i8_m128i,
    safe_arch::sub_i8_m128i,
    safe_arch::min_u8_m128i,
    safe_arch::cmp_eq_mask_i8_m128i,
    safe_arch::bitor_m128i,
    safe_arch::move_mask_i8_m128i
);

/// The three masks of 16 bytes, portably; each loop is one vector compare
/// where the compiler manages it.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn masks16(part: &[u8; 16]) -> (u16, u16, u16, u16) {
    let (mut d, mut a, mut l, mut s) = (0u16, 0u16, 0u16, 0u16);
    for (k, &b) in part.iter().enumerate() {
        let low = b | 0x20;
        let digit = b.wrapping_sub(b'0') < 10;
        let letter = low.wrapping_sub(b'a') < 26;
        let starter =
            low.wrapping_sub(b'd') < 3 || low.wrapping_sub(b'n') < 2 || low.wrapping_sub(b's') < 2 || low == b'z';
        d |= u16::from(digit) << k;
        a |= u16::from(b == b'@') << k;
        l |= u16::from(letter) << k;
        s |= u16::from(starter) << k;
    }
    (d, a, l, s)
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
                assert_eq!(m.digits >> k & 1 == 1, b.is_ascii_digit(), "{b:#x}");
                assert_eq!(m.at >> k & 1 == 1, b == b'@', "{b:#x}");
                assert_eq!(m.letters >> k & 1 == 1, b.is_ascii_alphabetic(), "{b:#x}");
                let starter = b"zotfsendZOTFSEND".contains(&b);
                assert_eq!(m.starters >> k & 1 == 1, starter, "{b:#x}");
            }
        }
    }
}
