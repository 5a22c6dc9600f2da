//! # dtprune-protobuf
//!
//! Protobuf's wire encoding, for the few messages dtprune writes: TensorBoard event files
//! (`dtprune-report`) and ONNX models (`dtprune-compact`). A message is a [`Msg`] buffer that
//! fields are appended to in field-number order; nested messages are encoded first and appended
//! as length-delimited bytes. Writing these by hand is short and keeps prost/protoc out of the
//! build; nothing here decodes.
//!
//! Wire format reference: <https://protobuf.dev/programming-guides/encoding/>.

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// A growable protobuf message buffer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Msg(pub Vec<u8>);

impl Msg {
    pub fn new() -> Self {
        Msg(Vec::new())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u32) {
        self.varint(((field << 3) | wire) as u64);
    }

    pub fn double(&mut self, field: u32, v: f64) -> &mut Self {
        self.key(field, FIXED64);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn float(&mut self, field: u32, v: f32) -> &mut Self {
        self.key(field, FIXED32);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// int64 as a plain varint (negative numbers take 10 bytes, as protobuf specifies).
    pub fn int64(&mut self, field: u32, v: i64) -> &mut Self {
        self.key(field, VARINT);
        self.varint(v as u64);
        self
    }

    /// int32 and enum fields: the same varint as int64 (negative values sign-extended to 64 bits).
    pub fn int32(&mut self, field: u32, v: i32) -> &mut Self {
        self.int64(field, v as i64)
    }

    pub fn bytes(&mut self, field: u32, data: &[u8]) -> &mut Self {
        self.key(field, LEN);
        self.varint(data.len() as u64);
        self.0.extend_from_slice(data);
        self
    }

    pub fn string(&mut self, field: u32, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }

    pub fn message(&mut self, field: u32, m: &Msg) -> &mut Self {
        self.bytes(field, &m.0)
    }

    pub fn packed_doubles(&mut self, field: u32, vs: &[f64]) -> &mut Self {
        self.key(field, LEN);
        self.varint(vs.len() as u64 * 8);
        for v in vs {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        self
    }

    /// `repeated int64` in packed form (the proto3 default; proto2 parsers accept it too).
    pub fn packed_int64s(&mut self, field: u32, vs: &[i64]) -> &mut Self {
        let mut body = Msg::new();
        for &v in vs {
            body.varint(v as u64);
        }
        self.bytes(field, &body.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut m = Msg::new();
        m.int64(1, 0);
        assert_eq!(m.0, [0x08, 0x00]);
        let mut m = Msg::new();
        m.int64(2, 300); // 300 = 0b10_0101100 -> AC 02
        assert_eq!(m.0, [0x10, 0xAC, 0x02]);
        let mut m = Msg::new();
        m.int64(1, -1); // ten bytes: nine 0xFF then 0x01
        assert_eq!(m.0.len(), 11);
        assert_eq!(
            &m.0[1..],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
        let mut m = Msg::new();
        m.int32(1, -1);
        assert_eq!(m.0.len(), 11, "negative int32 is sign-extended to ten bytes");
    }

    #[test]
    fn length_delimited() {
        let mut inner = Msg::new();
        inner.string(1, "ab");
        let mut m = Msg::new();
        m.message(3, &inner);
        // key 3<<3|2 = 0x1A, length 4, then the inner key 0x0A, length 2, "ab".
        assert_eq!(m.0, [0x1A, 4, 0x0A, 2, b'a', b'b']);
    }

    #[test]
    fn packed_doubles_bytes() {
        let mut m = Msg::new();
        m.packed_doubles(6, &[1.0, -2.0]);
        // key 6<<3|2 = 0x32, length 16, then two little-endian doubles.
        assert_eq!(&m.0[..2], &[0x32, 16]);
        assert_eq!(&m.0[2..10], &1.0f64.to_le_bytes());
        assert_eq!(&m.0[10..], &(-2.0f64).to_le_bytes());
    }

    #[test]
    fn packed_int64s_bytes() {
        let mut m = Msg::new();
        m.packed_int64s(1, &[3, 270, 0]);
        // key 0x0A, length 4: 03, 270 = 0x8E 0x02, 00.
        assert_eq!(m.0, [0x0A, 4, 0x03, 0x8E, 0x02, 0x00]);
        let mut m = Msg::new();
        m.packed_int64s(1, &[]);
        assert_eq!(m.0, [0x0A, 0]);
    }

    #[test]
    fn fixed_width_fields() {
        let mut m = Msg::new();
        m.float(2, 0.5).double(1, 1.0);
        assert_eq!(&m.0[..5], &[0x15, 0, 0, 0, 0x3F]);
        assert_eq!(&m.0[5..], &[0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F]);
    }
}
