//! The ONNX messages a model file needs, encoded with `dtprune-protobuf`.
//!
//! Field numbers from `onnx/onnx.proto` (IR version 8):
//! `ModelProto { int64 ir_version = 1; string producer_name = 2; string producer_version = 3;
//!  string doc_string = 6; GraphProto graph = 7; repeated OperatorSetIdProto opset_import = 8;
//!  repeated StringStringEntryProto metadata_props = 14; }`,
//! `OperatorSetIdProto { string domain = 1; int64 version = 2; }`,
//! `StringStringEntryProto { string key = 1; string value = 2; }`,
//! `GraphProto { repeated NodeProto node = 1; string name = 2; repeated TensorProto initializer = 5;
//!  string doc_string = 10; repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12; }`,
//! `NodeProto { repeated string input = 1; repeated string output = 2; string name = 3;
//!  string op_type = 4; repeated AttributeProto attribute = 5; }`,
//! `AttributeProto { string name = 1; int64 i = 3; repeated int64 ints = 8; AttributeType type = 20; }`,
//! `TensorProto { repeated int64 dims = 1; int32 data_type = 2; string name = 8; bytes raw_data = 9; }`,
//! `ValueInfoProto { string name = 1; TypeProto type = 2; }`,
//! `TypeProto { Tensor tensor_type = 1; }`, `TypeProto.Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; }`,
//! `TensorShapeProto { repeated Dimension dim = 1; }`, `Dimension { int64 dim_value = 1; string dim_param = 2; }`.

use dtprune_protobuf::Msg;

/// `TensorProto.DataType.FLOAT`.
pub const FLOAT: i32 = 1;
/// `TensorProto.DataType.INT64`.
pub const INT64: i32 = 7;
/// `AttributeProto.AttributeType` values.
const ATTR_FLOAT: i32 = 1;
const ATTR_INT: i32 = 2;
const ATTR_INTS: i32 = 7;

/// One axis of a graph input or output: a fixed size or a named symbolic one (the batch).
#[derive(Clone, Debug, PartialEq)]
pub enum Dim {
    Fixed(usize),
    Named(&'static str),
}

/// A float32 initialiser: C-order values with little-endian `raw_data`.
pub fn tensor_f32(name: &str, dims: &[usize], data: &[f32]) -> Msg {
    debug_assert_eq!(dims.iter().product::<usize>(), data.len());
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut m = Msg::new();
    m.packed_int64s(1, &dims).int32(2, FLOAT).string(8, name).bytes(9, &raw);
    m
}

/// An int64 initialiser (axes, shapes).
pub fn tensor_i64(name: &str, dims: &[usize], data: &[i64]) -> Msg {
    debug_assert_eq!(dims.iter().product::<usize>(), data.len());
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut m = Msg::new();
    m.packed_int64s(1, &dims).int32(2, INT64).string(8, name).bytes(9, &raw);
    m
}

pub fn attr_int(name: &str, v: i64) -> Msg {
    let mut m = Msg::new();
    m.string(1, name).int64(3, v).int32(20, ATTR_INT);
    m
}

/// `AttributeProto { float f = 2; }`.
pub fn attr_float(name: &str, v: f32) -> Msg {
    let mut m = Msg::new();
    m.string(1, name).float(2, v).int32(20, ATTR_FLOAT);
    m
}

pub fn attr_ints(name: &str, vs: &[i64]) -> Msg {
    let mut m = Msg::new();
    m.string(1, name).packed_int64s(8, vs).int32(20, ATTR_INTS);
    m
}

pub fn node(op_type: &str, name: &str, inputs: &[String], outputs: &[String], attrs: &[Msg]) -> Msg {
    let mut m = Msg::new();
    for i in inputs {
        m.string(1, i);
    }
    for o in outputs {
        m.string(2, o);
    }
    m.string(3, name).string(4, op_type);
    for a in attrs {
        m.message(5, a);
    }
    m
}

/// A float32 tensor graph input or output.
pub fn value_info(name: &str, dims: &[Dim]) -> Msg {
    value_info_typed(name, dims, FLOAT)
}

/// [`value_info`] of a tensor of element type `elem_type` (`FLOAT`, `INT64`).
pub fn value_info_typed(name: &str, dims: &[Dim], elem_type: i32) -> Msg {
    let mut shape = Msg::new();
    for d in dims {
        let mut dim = Msg::new();
        match d {
            Dim::Fixed(v) => dim.int64(1, *v as i64),
            Dim::Named(p) => dim.string(2, p),
        };
        shape.message(1, &dim);
    }
    let mut tensor = Msg::new();
    tensor.int32(1, elem_type).message(2, &shape);
    let mut ty = Msg::new();
    ty.message(1, &tensor);
    let mut m = Msg::new();
    m.string(1, name).message(2, &ty);
    m
}

pub struct GraphParts<'a> {
    pub name: &'a str,
    pub doc: &'a str,
    pub nodes: &'a [Msg],
    pub initializers: &'a [Msg],
    pub inputs: &'a [Msg],
    pub outputs: &'a [Msg],
}

pub fn graph(p: &GraphParts<'_>) -> Msg {
    let mut m = Msg::new();
    for n in p.nodes {
        m.message(1, n);
    }
    m.string(2, p.name);
    for t in p.initializers {
        m.message(5, t);
    }
    if !p.doc.is_empty() {
        m.string(10, p.doc);
    }
    for i in p.inputs {
        m.message(11, i);
    }
    for o in p.outputs {
        m.message(12, o);
    }
    m
}

/// IR version 8 is the one that goes with opset 17 (onnx 1.12); every onnxruntime since 1.12
/// loads it.
pub const IR_VERSION: i64 = 8;
pub const OPSET: i64 = 17;

pub fn model(graph: &Msg, doc: &str, metadata: &[(String, String)]) -> Msg {
    let mut opset = Msg::new();
    opset.string(1, "").int64(2, OPSET);
    let mut m = Msg::new();
    m.int64(1, IR_VERSION)
        .string(2, "dtprune")
        .string(3, env!("CARGO_PKG_VERSION"))
        .string(6, doc)
        .message(7, graph)
        .message(8, &opset);
    for (k, v) in metadata {
        let mut e = Msg::new();
        e.string(1, k).string(2, v);
        m.message(14, &e);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_bytes() {
        let t = tensor_f32("b", &[2], &[1.0, -2.0]);
        #[rustfmt::skip]
        let mut expected = vec![
            0x0A, 1, 2,          // dims = [2] (packed)
            0x10, 1,             // data_type = FLOAT
            0x42, 1, b'b',       // name = "b" (field 8)
            0x4A, 8,             // raw_data, 8 bytes (field 9)
        ];
        expected.extend_from_slice(&1.0f32.to_le_bytes());
        expected.extend_from_slice(&(-2.0f32).to_le_bytes());
        assert_eq!(t.0, expected);
    }

    #[test]
    fn attribute_bytes() {
        // name "k", ints [2, 3], type INTS (20 << 3 | 0 = 160 = A0 01).
        assert_eq!(attr_ints("k", &[2, 3]).0, [0x0A, 1, b'k', 0x42, 2, 2, 3, 0xA0, 0x01, 7]);
        assert_eq!(attr_int("axis", 1).0, [0x0A, 4, b'a', b'x', b'i', b's', 0x18, 1, 0xA0, 0x01, 2]);
    }

    #[test]
    fn value_info_bytes() {
        let v = value_info("x", &[Dim::Named("N"), Dim::Fixed(3)]);
        #[rustfmt::skip]
        let expected = [
            0x0A, 1, b'x',                 // name
            0x12, 15,                      // type
              0x0A, 13,                    //   tensor_type
                0x08, 1,                   //     elem_type FLOAT
                0x12, 9,                   //     shape
                  0x0A, 3, 0x12, 1, b'N',  //       dim { dim_param "N" }
                  0x0A, 2, 0x08, 3,        //       dim { dim_value 3 }
        ];
        assert_eq!(v.0, expected);
    }
}
