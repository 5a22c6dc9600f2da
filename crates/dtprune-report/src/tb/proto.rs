//! Hand-written protobuf encoding of the few TensorFlow messages an event file needs.
//!
//! Field numbers (from `tensorflow/core/util/event.proto` and `framework/summary.proto`):
//! `Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }`,
//! `Summary { repeated Value value = 1; }`,
//! `Value { string tag = 1; float simple_value = 2; HistogramProto histo = 5; }`,
//! `HistogramProto { double min = 1; max = 2; num = 3; sum = 4; sum_squares = 5;
//!  repeated double bucket_limit = 6 [packed]; repeated double bucket = 7 [packed]; }`.
//! The wire encoding itself is `dtprune-protobuf`'s, shared with the ONNX writer.

pub use dtprune_protobuf::Msg;

/// Histogram in TensorFlow's representation: `bucket[i]` counts values in
/// `(bucket_limit[i-1], bucket_limit[i]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub min: f64,
    pub max: f64,
    pub num: f64,
    pub sum: f64,
    pub sum_squares: f64,
    pub bucket_limit: Vec<f64>,
    pub bucket: Vec<f64>,
}

impl Histogram {
    pub fn encode(&self) -> Msg {
        let mut m = Msg::new();
        m.double(1, self.min)
            .double(2, self.max)
            .double(3, self.num)
            .double(4, self.sum)
            .double(5, self.sum_squares)
            .packed_doubles(6, &self.bucket_limit)
            .packed_doubles(7, &self.bucket);
        m
    }
}

/// The value carried by one `Summary.Value`.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    Scalar(f32),
    Histo(&'a Histogram),
}

/// `Event` with a `file_version` (the first record of every event file).
pub fn file_version_event(wall_time: f64, version: &str) -> Msg {
    let mut m = Msg::new();
    m.double(1, wall_time).int64(2, 0).string(3, version);
    m
}

/// `Event` with a `Summary` of the given tagged values.
pub fn summary_event(wall_time: f64, step: i64, values: &[(&str, Value<'_>)]) -> Msg {
    let mut summary = Msg::new();
    for (tag, value) in values {
        let mut v = Msg::new();
        v.string(1, tag);
        match value {
            Value::Scalar(x) => {
                v.float(2, *x);
            }
            Value::Histo(h) => {
                v.message(5, &h.encode());
            }
        }
        summary.message(1, &v);
    }
    let mut m = Msg::new();
    m.double(1, wall_time).int64(2, step).message(5, &summary);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_event_bytes() {
        let m = summary_event(1.0, 3, &[("a", Value::Scalar(0.5))]);
        #[rustfmt::skip]
        let expected = [
            0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, // wall_time = 1.0 (fixed64)
            0x10, 0x03,                          // step = 3
            0x2A, 0x0A,                          // summary, 10 bytes
              0x0A, 0x08,                        //   value, 8 bytes
                0x0A, 0x01, b'a',                //     tag = "a"
                0x15, 0, 0, 0, 0x3F,             //     simple_value = 0.5f (fixed32)
        ];
        assert_eq!(m.0, expected);
    }

    #[test]
    fn file_version_bytes() {
        let m = file_version_event(0.0, "brain.Event:2");
        assert_eq!(&m.0[..9], &[0x09, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&m.0[9..11], &[0x10, 0x00]);
        assert_eq!(&m.0[11..13], &[0x1A, 13]);
        assert_eq!(&m.0[13..], b"brain.Event:2");
    }
}
