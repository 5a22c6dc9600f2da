//! How u8 pixels become model input: `x = (pixel * scale - mean[c]) / std[c]`.

use serde::{Deserialize, Serialize};

use super::Shape;

/// A per-channel statistic: one number for every channel (grey-scale runs, and every file
/// written before colour input) or one per input channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChannelStat {
    All(f64),
    PerChannel(Vec<f64>),
}

impl ChannelStat {
    /// The value for channel `c`.
    pub fn get(&self, c: usize) -> f64 {
        match self {
            ChannelStat::All(v) => *v,
            ChannelStat::PerChannel(v) => v[c],
        }
    }

    /// One number when all channels agree in count 1, else a list (so grey-scale files keep
    /// today's form).
    pub fn from_slice(values: &[f64]) -> ChannelStat {
        match values {
            [v] => ChannelStat::All(*v),
            vs => ChannelStat::PerChannel(vs.to_vec()),
        }
    }

    fn values(&self) -> &[f64] {
        match self {
            ChannelStat::All(v) => std::slice::from_ref(v),
            ChannelStat::PerChannel(v) => v,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub scale: f64,
    pub mean: ChannelStat,
    pub std: ChannelStat,
}

impl Preprocess {
    /// A preprocessing with one mean and std for all channels.
    pub const fn uniform(scale: f64, mean: f64, std: f64) -> Preprocess {
        Preprocess { scale, mean: ChannelStat::All(mean), std: ChannelStat::All(std) }
    }

    /// Checks the statistics against the input's channel count; `Err` says what is wrong.
    pub fn check(&self, input: Shape) -> Result<(), String> {
        let (channels, _) = input.units();
        for (what, stat) in [("mean", &self.mean), ("std", &self.std)] {
            if let ChannelStat::PerChannel(v) = stat {
                if v.len() != channels {
                    return Err(format!("preprocess.{what} has {} values but the input has {channels} channels", v.len()));
                }
            }
            if stat.values().iter().any(|v| !v.is_finite()) {
                return Err(format!("preprocess.{what} is not finite"));
            }
        }
        if self.std.values().iter().any(|s| *s == 0.0) || !self.scale.is_finite() {
            return Err("preprocess.std must be nonzero and scale finite".into());
        }
        Ok(())
    }

    /// Applies the preprocessing in f32 (the formula the numpy check uses) to samples of shape
    /// `input` stored sample-major (`[N, C, H, W]`).
    pub fn apply(&self, pixels: &[u8], input: Shape) -> Vec<f32> {
        let scale = self.scale as f32;
        let (channels, plane) = input.units();
        let per_channel: Vec<(f32, f32)> =
            (0..channels).map(|c| (self.mean.get(c.min(self.mean.values().len() - 1)) as f32, self.std.get(c.min(self.std.values().len() - 1)) as f32)).collect();
        let sample = channels * plane;
        pixels
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let (mean, std) = per_channel[(i % sample) / plane];
                (p as f32 * scale - mean) / std
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_formula() {
        let p = Preprocess::uniform(1.0 / 255.0, 0.5, 0.5);
        assert_eq!(p.apply(&[0, 255], Shape::Features(2)), vec![-1.0, 1.0]);
    }

    #[test]
    fn per_channel_formula_and_json_forms() {
        // 2 channels of 1x2 pixels, 2 samples: channel 0 mean 0 std 1, channel 1 mean 1 std 2.
        let p = Preprocess { scale: 1.0, mean: ChannelStat::PerChannel(vec![0.0, 1.0]), std: ChannelStat::PerChannel(vec![1.0, 2.0]) };
        let s = Shape::Image { c: 2, h: 1, w: 2 };
        assert_eq!(p.apply(&[1, 2, 3, 5, 0, 0, 1, 1], s), vec![1., 2., 1., 2., 0., 0., 0., 0.]);
        assert!(p.check(s).is_ok());
        assert!(p.check(Shape::Image { c: 3, h: 1, w: 2 }).unwrap_err().contains("has 2 values but the input has 3"));
        // A number stays a number; a list a list.
        let one: Preprocess = serde_json::from_str(r#"{"scale":1,"mean":0.5,"std":0.25}"#).unwrap();
        assert_eq!(one, Preprocess::uniform(1.0, 0.5, 0.25));
        assert_eq!(serde_json::to_string(&one).unwrap(), r#"{"scale":1.0,"mean":0.5,"std":0.25}"#);
        let three: Preprocess = serde_json::from_str(r#"{"scale":1,"mean":[0.1,0.2,0.3],"std":[1,1,1]}"#).unwrap();
        assert_eq!(three.mean, ChannelStat::PerChannel(vec![0.1, 0.2, 0.3]));
        let zero_std = Preprocess::uniform(1.0, 0.0, 0.0);
        assert!(zero_std.check(Shape::Features(1)).is_err());
    }
}
