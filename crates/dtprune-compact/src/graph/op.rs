//! The op of a graph node: a serde enum tagged by `"op"`, so new kinds are new variants and
//! files written before them stay readable. Each op's shape rule is here; what its tensors are
//! and how it runs live in `crate::ops`.

use serde::{Deserialize, Serialize};

use super::Shape;

/// One node's op. Parameterised ops carry the PyTorch-style tensor prefix `name`
/// (`NAME.weight`, `NAME.bias`; batchnorm also `NAME.running_mean`, `NAME.running_var`).
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
        /// Channel groups (PyTorch's `groups`): each output channel reads `in_channels / groups`.
        #[serde(default = "one")]
        groups: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    Batchnorm2d {
        name: String,
        channels: usize,
        #[serde(default = "default_eps")]
        eps: f64,
    },
    Maxpool2d {
        kernel: [usize; 2],
        /// Defaults to the kernel, as in PyTorch.
        #[serde(default)]
        stride: Option<[usize; 2]>,
    },
    GlobalAvgPool,
    Flatten,
    Linear {
        name: String,
        in_features: usize,
        out_features: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    Relu,
    /// Element-wise sum of two or more inputs of one shape (a residual join).
    Add,
    Identity,
}

fn one2() -> [usize; 2] {
    [1, 1]
}
fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn default_eps() -> f64 {
    1e-5
}

impl Layer {
    pub fn op_name(&self) -> &'static str {
        match self {
            Layer::Conv2d { .. } => "conv2d",
            Layer::Batchnorm2d { .. } => "batchnorm2d",
            Layer::Maxpool2d { .. } => "maxpool2d",
            Layer::GlobalAvgPool => "global_avg_pool",
            Layer::Flatten => "flatten",
            Layer::Linear { .. } => "linear",
            Layer::Relu => "relu",
            Layer::Add => "add",
            Layer::Identity => "identity",
        }
    }

    /// The tensor prefix of a parameterised op.
    pub fn param_name(&self) -> Option<&str> {
        match self {
            Layer::Conv2d { name, .. } | Layer::Linear { name, .. } | Layer::Batchnorm2d { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether the op has a weight matrix (conv, linear): the layers compaction stores dense or CSR.
    pub fn has_weight_matrix(&self) -> bool {
        matches!(self, Layer::Conv2d { .. } | Layer::Linear { .. })
    }

    /// Every parameter tensor of the op with its PyTorch shape (a bias only where declared).
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        match self {
            Layer::Conv2d { name, in_channels, out_channels, kernel, groups, bias, .. } => {
                let mut v = vec![(format!("{name}.weight"), vec![*out_channels, in_channels / groups.max(&1), kernel[0], kernel[1]])];
                if *bias {
                    v.push((format!("{name}.bias"), vec![*out_channels]));
                }
                v
            }
            Layer::Linear { name, in_features, out_features, bias } => {
                let mut v = vec![(format!("{name}.weight"), vec![*out_features, *in_features])];
                if *bias {
                    v.push((format!("{name}.bias"), vec![*out_features]));
                }
                v
            }
            Layer::Batchnorm2d { name, channels, .. } => {
                ["weight", "bias", "running_mean", "running_var"].iter().map(|t| (format!("{name}.{t}"), vec![*channels])).collect()
            }
            _ => Vec::new(),
        }
    }

    /// How many inputs the op takes: `(min, max)`.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Layer::Add => (2, usize::MAX),
            _ => (1, 1),
        }
    }

    /// The op's output shape for these input shapes; `Err` says what does not fit.
    pub fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let (lo, hi) = self.arity();
        if inputs.len() < lo || inputs.len() > hi {
            return Err(format!("takes {} input(s), got {}", if lo == hi { lo.to_string() } else { format!("{lo} or more") }, inputs.len()));
        }
        let x = inputs[0];
        match (self, x) {
            (Layer::Conv2d { in_channels, out_channels, kernel, stride, padding, groups, .. }, Shape::Image { c, h, w }) => {
                if *in_channels != c {
                    return Err(format!("in_channels {in_channels} but input has {c} channels"));
                }
                if *out_channels == 0 || kernel[0] == 0 || kernel[1] == 0 || stride[0] == 0 || stride[1] == 0 {
                    return Err("zero out_channels, kernel or stride".into());
                }
                if *groups == 0 || in_channels % groups != 0 || out_channels % groups != 0 {
                    return Err(format!("groups {groups} must divide in_channels {in_channels} and out_channels {out_channels}"));
                }
                let (hp, wp) = (h + 2 * padding[0], w + 2 * padding[1]);
                if hp < kernel[0] || wp < kernel[1] {
                    return Err(format!("kernel {kernel:?} larger than padded input {hp}x{wp}"));
                }
                Ok(Shape::Image { c: *out_channels, h: (hp - kernel[0]) / stride[0] + 1, w: (wp - kernel[1]) / stride[1] + 1 })
            }
            (Layer::Batchnorm2d { channels, eps, .. }, Shape::Image { c, .. }) => {
                if *channels != c {
                    return Err(format!("channels {channels} but input has {c} channels"));
                }
                if !(eps.is_finite() && *eps >= 0.0) {
                    return Err(format!("eps {eps} must be finite and non-negative"));
                }
                Ok(x)
            }
            (Layer::Maxpool2d { kernel, stride }, Shape::Image { c, h, w }) => {
                let s = stride.unwrap_or(*kernel);
                if kernel[0] == 0 || kernel[1] == 0 || s[0] == 0 || s[1] == 0 || h < kernel[0] || w < kernel[1] {
                    return Err(format!("pool kernel {kernel:?} / stride {s:?} invalid for {h}x{w}"));
                }
                Ok(Shape::Image { c, h: (h - kernel[0]) / s[0] + 1, w: (w - kernel[1]) / s[1] + 1 })
            }
            (Layer::GlobalAvgPool, Shape::Image { c, .. }) => Ok(Shape::Features(c)),
            (Layer::Flatten, s) => Ok(Shape::Features(s.numel())),
            (Layer::Relu | Layer::Identity, s) => Ok(s),
            (Layer::Add, s) => match inputs.iter().find(|t| **t != s) {
                Some(t) => Err(format!("inputs of different shapes: {s:?} and {t:?}")),
                None => Ok(s),
            },
            (Layer::Linear { in_features, out_features, .. }, Shape::Features(f)) => {
                if *in_features != f {
                    return Err(format!("in_features {in_features} but input has {f} features"));
                }
                if *out_features == 0 {
                    return Err("out_features is 0".into());
                }
                Ok(Shape::Features(*out_features))
            }
            (l, s) => Err(format!("{} cannot take input of shape {s:?}", l.op_name())),
        }
    }
}
