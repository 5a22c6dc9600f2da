//! JSON that gives back the exact bits of every float. serde_json's default parser may land
//! one ulp off (its exact mode is a crate feature that would rebuild Burn), and a resume must be
//! bit-identical, so every non-integer number is written as a string `"\u{1}f64:<bits in hex>"`
//! and turned back into the same `f64` before deserialising.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Number, Value};

const PREFIX: &str = "\u{1}f64:";

pub fn to_string<T: Serialize>(value: &T) -> String {
    let mut v = serde_json::to_value(value).expect("checkpoint state serialises");
    encode(&mut v);
    serde_json::to_string(&v).expect("a JSON value serialises")
}

pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    decode(&mut v)?;
    serde_json::from_value(v).map_err(|e| e.to_string())
}

fn encode(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let bits = n.as_f64().expect("an f64 number").to_bits();
            *v = Value::String(format!("{PREFIX}{bits:016x}"));
        }
        Value::Array(items) => items.iter_mut().for_each(encode),
        Value::Object(map) => map.values_mut().for_each(encode),
        _ => {}
    }
}

fn decode(v: &mut Value) -> Result<(), String> {
    match v {
        Value::String(s) if s.starts_with(PREFIX) => {
            let bits = u64::from_str_radix(&s[PREFIX.len()..], 16).map_err(|e| format!("bad float `{s}`: {e}"))?;
            // Non-finite values never reach a checkpoint (serde_json writes them as null).
            *v = Number::from_f64(f64::from_bits(bits)).map(Value::Number).ok_or_else(|| format!("non-finite float in `{s}`"))?;
        }
        Value::Array(items) => items.iter_mut().try_for_each(decode)?,
        Value::Object(map) => map.values_mut().try_for_each(decode)?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn floats_come_back_bit_for_bit() {
        // Values whose shortest decimal form the default parser is known to misread are the
        // point; a sweep of awkward ones covers them.
        let mut values: Vec<f64> = vec![0.1 + 0.2, 1.0 / 3.0, 2.2250738585072014e-308, 5e-324, 1e300, -0.0, 0.8748999999999999];
        let mut x = 0.123_456_789_f64;
        for _ in 0..2000 {
            x = (x * 7.389_056_098_930_65).fract() + 1e-3;
            values.push(x);
        }
        let thresholds: Vec<f32> = vec![0.012_345_679, 3.4e38, 1e-45];
        let text = super::to_string(&(values.clone(), thresholds.clone(), 7u64, "text"));
        let (v, t, n, s): (Vec<f64>, Vec<f32>, u64, String) = super::from_str(&text).unwrap();
        assert_eq!(v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), values.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        assert_eq!(t.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), thresholds.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        assert_eq!((n, s.as_str()), (7, "text"));
    }

    #[test]
    fn a_damaged_float_is_an_error() {
        assert!(super::from_str::<Vec<f64>>("[\"\\u0001f64:zz\"]").is_err());
    }
}
