//! The layer graph (`graph.json`) written by the trainer, and shape inference over it.
//!
//! The graph is a sequential chain today. Ops are a serde enum tagged by `"op"`, so new layer
//! kinds (batchnorm2d, residual add, lstm, attention) are new variants: files written today stay
//! readable, and the structure analysis (`structure.rs`) learns about a new op by saying which
//! tensor slices produce and consume its channels.

use serde::{Deserialize, Serialize};

use crate::error::{CompactError, Result};

/// How u8 pixels become model input: `x = (pixel * scale - mean) / std`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub scale: f64,
    pub mean: f64,
    pub std: f64,
}

impl Preprocess {
    /// Applies the preprocessing in f32, the same formula the numpy check uses.
    pub fn apply(&self, pixels: &[u8]) -> Vec<f32> {
        let (scale, mean, std) = (self.scale as f32, self.mean as f32, self.std as f32);
        pixels
            .iter()
            .map(|&p| (p as f32 * scale - mean) / std)
            .collect()
    }
}

/// One layer of the chain. Parameterised layers carry the PyTorch-style tensor prefix `name`
/// (`NAME.weight`, `NAME.bias`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Layer {
    Conv2d {
        name: String,
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        #[serde(default = "one2")]
        stride: [usize; 2],
        #[serde(default)]
        padding: [usize; 2],
        #[serde(default = "yes")]
        bias: bool,
    },
    Maxpool2d {
        kernel: [usize; 2],
        /// Defaults to the kernel, as in PyTorch.
        #[serde(default)]
        stride: Option<[usize; 2]>,
    },
    Flatten,
    Linear {
        name: String,
        in_features: usize,
        out_features: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    Relu,
}

fn one2() -> [usize; 2] {
    [1, 1]
}
fn yes() -> bool {
    true
}

impl Layer {
    pub fn op_name(&self) -> &'static str {
        match self {
            Layer::Conv2d { .. } => "conv2d",
            Layer::Maxpool2d { .. } => "maxpool2d",
            Layer::Flatten => "flatten",
            Layer::Linear { .. } => "linear",
            Layer::Relu => "relu",
        }
    }

    /// The tensor prefix of a parameterised layer.
    pub fn param_name(&self) -> Option<&str> {
        match self {
            Layer::Conv2d { name, .. } | Layer::Linear { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// The model graph as stored in `graph.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub model: String,
    /// Shape of one sample without the batch axis: `[C, H, W]` or `[F]`.
    pub input: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocess: Option<Preprocess>,
    pub layers: Vec<Layer>,
}

/// Shape of one sample's activation between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Feature vector of length `F`.
    Features(usize),
    /// Image `[C, H, W]`.
    Image { c: usize, h: usize, w: usize },
}

impl Shape {
    pub fn numel(&self) -> usize {
        match *self {
            Shape::Features(f) => f,
            Shape::Image { c, h, w } => c * h * w,
        }
    }
    /// Number of channels (units) of the activation; for images, the spatial size each unit spans.
    pub fn units(&self) -> (usize, usize) {
        match *self {
            Shape::Features(f) => (f, 1),
            Shape::Image { c, h, w } => (c, h * w),
        }
    }
}

impl Graph {
    pub fn from_json_str(s: &str, path: &std::path::Path) -> Result<Graph> {
        let g: Graph = serde_json::from_str(s).map_err(|source| CompactError::GraphJson {
            path: path.to_owned(),
            source,
        })?;
        g.shapes().map_err(|e| CompactError::InFile { path: path.to_owned(), source: Box::new(e) })?;
        Ok(g)
    }

    pub fn load(path: &std::path::Path) -> Result<Graph> {
        let s = std::fs::read_to_string(path).map_err(|e| CompactError::io(path, e))?;
        Self::from_json_str(&s, path)
    }

    pub fn input_shape(&self) -> Result<Shape> {
        match self.input.as_slice() {
            &[f] if f > 0 => Ok(Shape::Features(f)),
            &[c, h, w] if c * h * w > 0 => Ok(Shape::Image { c, h, w }),
            other => Err(CompactError::InvalidGraph {
                index: 0,
                op: "input".into(),
                reason: format!("input must be [F] or [C,H,W] with nonzero sizes, got {other:?}"),
            }),
        }
    }

    /// Shapes of the activations: `shapes[0]` is the input, `shapes[i+1]` the output of layer i.
    /// Checks that every layer's declared sizes agree with what flows into it.
    pub fn shapes(&self) -> Result<Vec<Shape>> {
        let mut shapes = vec![self.input_shape()?];
        for (index, layer) in self.layers.iter().enumerate() {
            let bad = |reason: String| CompactError::InvalidGraph {
                index,
                op: layer.op_name().into(),
                reason,
            };
            let cur = *shapes.last().expect("non-empty");
            let next = match (layer, cur) {
                (
                    Layer::Conv2d {
                        in_channels,
                        out_channels,
                        kernel,
                        stride,
                        padding,
                        ..
                    },
                    Shape::Image { c, h, w },
                ) => {
                    if *in_channels != c {
                        return Err(bad(format!(
                            "in_channels {in_channels} but input has {c} channels"
                        )));
                    }
                    if *out_channels == 0
                        || kernel[0] == 0
                        || kernel[1] == 0
                        || stride[0] == 0
                        || stride[1] == 0
                    {
                        return Err(bad("zero out_channels, kernel or stride".into()));
                    }
                    let (hp, wp) = (h + 2 * padding[0], w + 2 * padding[1]);
                    if hp < kernel[0] || wp < kernel[1] {
                        return Err(bad(format!(
                            "kernel {kernel:?} larger than padded input {hp}x{wp}"
                        )));
                    }
                    Shape::Image {
                        c: *out_channels,
                        h: (hp - kernel[0]) / stride[0] + 1,
                        w: (wp - kernel[1]) / stride[1] + 1,
                    }
                }
                (Layer::Maxpool2d { kernel, stride }, Shape::Image { c, h, w }) => {
                    let s = stride.unwrap_or(*kernel);
                    if kernel[0] == 0
                        || kernel[1] == 0
                        || s[0] == 0
                        || s[1] == 0
                        || h < kernel[0]
                        || w < kernel[1]
                    {
                        return Err(bad(format!(
                            "pool kernel {kernel:?} / stride {s:?} invalid for {h}x{w}"
                        )));
                    }
                    Shape::Image {
                        c,
                        h: (h - kernel[0]) / s[0] + 1,
                        w: (w - kernel[1]) / s[1] + 1,
                    }
                }
                (Layer::Flatten, s) => Shape::Features(s.numel()),
                (Layer::Relu, s) => s,
                (
                    Layer::Linear {
                        in_features,
                        out_features,
                        ..
                    },
                    Shape::Features(f),
                ) => {
                    if *in_features != f {
                        return Err(bad(format!(
                            "in_features {in_features} but input has {f} features"
                        )));
                    }
                    if *out_features == 0 {
                        return Err(bad("out_features is 0".into()));
                    }
                    Shape::Features(*out_features)
                }
                (l, s) => {
                    return Err(bad(format!(
                        "{} cannot take input of shape {s:?}",
                        l.op_name()
                    )));
                }
            };
            shapes.push(next);
        }
        match shapes.last() {
            Some(Shape::Features(_)) => Ok(shapes),
            _ => Err(CompactError::InvalidGraph {
                index: self.layers.len(),
                op: "output".into(),
                reason: "the graph must end in a feature vector (logits)".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LENET5: &str = r#"{"model":"lenet5","input":[1,28,28],
 "preprocess":{"scale":0.00392156862745098,"mean":0.1307,"std":0.3081},
 "layers":[
  {"op":"conv2d","name":"conv1","in_channels":1,"out_channels":20,"kernel":[5,5],"stride":[1,1],"padding":[0,0],"bias":true},
  {"op":"maxpool2d","kernel":[2,2],"stride":[2,2]},
  {"op":"conv2d","name":"conv2","in_channels":20,"out_channels":50,"kernel":[5,5],"stride":[1,1],"padding":[0,0],"bias":true},
  {"op":"maxpool2d","kernel":[2,2],"stride":[2,2]},
  {"op":"flatten"},
  {"op":"linear","name":"fc1","in_features":800,"out_features":500,"bias":true},
  {"op":"relu"},
  {"op":"linear","name":"fc2","in_features":500,"out_features":10,"bias":true}]}"#;

    #[test]
    fn lenet5_shapes() {
        let g = Graph::from_json_str(LENET5, "g.json".as_ref()).unwrap();
        let s = g.shapes().unwrap();
        assert_eq!(
            s[1],
            Shape::Image {
                c: 20,
                h: 24,
                w: 24
            }
        );
        assert_eq!(
            s[2],
            Shape::Image {
                c: 20,
                h: 12,
                w: 12
            }
        );
        assert_eq!(s[4], Shape::Image { c: 50, h: 4, w: 4 });
        assert_eq!(s[5], Shape::Features(800));
        assert_eq!(*s.last().unwrap(), Shape::Features(10));
    }

    #[test]
    fn mismatched_sizes_are_reported() {
        let bad = LENET5.replace("\"in_features\":800", "\"in_features\":801");
        let e = Graph::from_json_str(&bad, "g.json".as_ref()).unwrap_err();
        assert!(e.to_string().contains("in_features 801"), "{e}");
        let unknown = LENET5.replace("\"relu\"", "\"gelu_magic\"");
        assert!(Graph::from_json_str(&unknown, "g.json".as_ref()).is_err());
    }

    #[test]
    fn preprocess_formula() {
        let p = Preprocess {
            scale: 1.0 / 255.0,
            mean: 0.5,
            std: 0.5,
        };
        assert_eq!(p.apply(&[0, 255]), vec![-1.0, 1.0]);
    }
}
