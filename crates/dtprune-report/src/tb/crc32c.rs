//! CRC-32C (Castagnoli), the checksum of TFRecord framing, and TensorFlow's "masked" variant.
//!
//! A 256-entry table built at compile time is plenty for event files (a few KB per epoch), and
//! avoids a dependency for 20 lines of code.

/// Reflected Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// TensorFlow masks the CRC stored in records so that a CRC of data that itself contains CRCs
/// does not degenerate: rotate right by 15 bits and add a constant.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    mask(crc32c(data))
}

/// The masking step on its own.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The standard "check" value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn rfc3720_vectors() {
        // iSCSI (RFC 3720, B.4) test vectors.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let asc: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&asc), 0x46DD_794E);
        let desc: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&desc), 0x113F_DB5C);
    }

    #[test]
    fn masking() {
        // mask(0) is just the constant.
        assert_eq!(mask(0), 0xa282_ead8);
        // 1 rotated right by 15 is 1 << 17 = 0x0002_0000.
        assert_eq!(mask(1), 0xa282_ead8 + 0x0002_0000);
        // 0x8000 >> 15 = 1; the sum wraps for large values: 0xFFFF_FFFF rotates to itself.
        assert_eq!(mask(0x8000), 0xa282_ead9);
        assert_eq!(mask(0xFFFF_FFFF), 0xa282_ead7);
    }
}
