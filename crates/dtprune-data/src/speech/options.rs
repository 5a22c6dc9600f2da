//! The options of the speech data sets (`fsdd`, `audio-folder`), checked into a [`MelConfig`].

use std::collections::BTreeMap;

use crate::options::{DataOptions, OptionError, OptionKind, OptionSpec};
use crate::speech::mel::MelConfig;

/// Options every speech set takes: the audio format and the log-mel transform.
pub const FEATURE_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "sample_rate",
        kind: OptionKind::Int {
            min: 1000,
            max: 192_000,
        },
        default: "8000",
        help: "expected sample rate in Hz; a file with another rate is an error",
    },
    OptionSpec {
        name: "window",
        kind: OptionKind::Int { min: 16, max: 8192 },
        default: "256",
        help: "analysis window in samples (Hann); 256 = 32 ms at 8 kHz",
    },
    OptionSpec {
        name: "hop",
        kind: OptionKind::Int { min: 1, max: 8192 },
        default: "80",
        help: "step between frames in samples; 80 = 10 ms at 8 kHz",
    },
    OptionSpec {
        name: "n_fft",
        kind: OptionKind::Int { min: 0, max: 16384 },
        default: "0",
        help: "FFT size, at least the window; 0 = the window length",
    },
    OptionSpec {
        name: "n_mels",
        kind: OptionKind::Int { min: 1, max: 256 },
        default: "40",
        help: "mel bands",
    },
    OptionSpec {
        name: "f_min",
        kind: OptionKind::Float {
            min: 0.0,
            max: 96_000.0,
            open_min: false,
        },
        default: "0",
        help: "lowest filter edge in Hz",
    },
    OptionSpec {
        name: "f_max",
        kind: OptionKind::Float {
            min: 0.0,
            max: 96_000.0,
            open_min: false,
        },
        default: "0",
        help: "highest filter edge in Hz, at most sample_rate/2; 0 = sample_rate/2",
    },
    OptionSpec {
        name: "log_floor",
        kind: OptionKind::Float {
            min: 0.0,
            max: 1.0,
            open_min: true,
        },
        default: "1e-6",
        help: "mel energies below this are raised to it before the log",
    },
    OptionSpec {
        name: "frames",
        kind: OptionKind::Int {
            min: 1,
            max: 100_000,
        },
        default: "100",
        help:
            "fixed frame count per utterance: longer ones are truncated, shorter ones padded with \
               ln(log_floor) (digital silence); the true lengths are kept",
    },
];

/// Extra options of sets that have no official split.
pub const SPLIT_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "test_fraction",
        kind: OptionKind::Float {
            min: 0.0,
            max: 0.9,
            open_min: true,
        },
        default: "0.2",
        help: "share of each class held out for test when there is no train/ and test/ tree",
    },
    OptionSpec {
        name: "split_seed",
        kind: OptionKind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "0",
        help: "seed of the stratified split (independent of the training seed)",
    },
];

/// Validated speech options.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechOptions {
    pub mel: MelConfig,
    pub frames: usize,
    /// `(test_fraction, split_seed)` for sets that take them.
    pub split: Option<(f64, u64)>,
    /// Every resolved value, for the run record and the cache key.
    pub resolved: DataOptions,
}

impl SpeechOptions {
    /// Validates `given` for data set `dataset`; `with_split` adds [`SPLIT_OPTIONS`].
    pub fn resolve(
        dataset: &str,
        given: &BTreeMap<String, toml::Value>,
        with_split: bool,
    ) -> Result<Self, OptionError> {
        let specs = if with_split {
            [FEATURE_OPTIONS, SPLIT_OPTIONS].concat()
        } else {
            FEATURE_OPTIONS.to_vec()
        };
        let o = DataOptions::resolve(dataset, &specs, given)?;
        let sample_rate = o.usize("sample_rate") as u32;
        let window = o.usize("window");
        let n_fft = match o.usize("n_fft") {
            0 => window,
            n if n < window => {
                return Err(o.invalid(format!("n_fft = {n} is smaller than window = {window}")))
            }
            n => n,
        };
        let nyquist = f64::from(sample_rate) / 2.0;
        let f_max = match o.float("f_max") {
            0.0 => nyquist,
            f if f > nyquist => {
                return Err(o.invalid(format!(
                    "f_max = {f} Hz is above the Nyquist frequency {nyquist} Hz"
                )))
            }
            f => f,
        };
        let f_min = o.float("f_min");
        if f_min >= f_max {
            return Err(o.invalid(format!(
                "f_min = {f_min} Hz must be below f_max = {f_max} Hz"
            )));
        }
        let split = with_split.then(|| (o.float("test_fraction"), o.int("split_seed") as u64));
        Ok(Self {
            mel: MelConfig {
                sample_rate,
                window,
                hop: o.usize("hop"),
                n_fft,
                n_mels: o.usize("n_mels"),
                f_min,
                f_max,
                log_floor: o.float("log_floor"),
            },
            frames: o.usize("frames"),
            split,
            resolved: o,
        })
    }

    /// The feature value of a padded frame: the log of the floor, i.e. digital silence.
    pub fn pad_value(&self) -> f32 {
        self.mel.log_floor.ln() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::options_from_args;

    fn resolve(args: &[&str], with_split: bool) -> Result<SpeechOptions, OptionError> {
        SpeechOptions::resolve(
            "fsdd",
            &options_from_args(args.iter().copied()).unwrap(),
            with_split,
        )
    }

    #[test]
    fn defaults_and_derived_values() {
        let o = resolve(&[], false).unwrap();
        assert_eq!(
            (o.mel.window, o.mel.n_fft, o.mel.hop, o.mel.n_mels),
            (256, 256, 80, 40)
        );
        assert_eq!((o.mel.f_min, o.mel.f_max), (0.0, 4000.0));
        assert_eq!(o.split, None);
        assert!((o.pad_value() - (-13.815511)).abs() < 1e-5);
        let o = resolve(&["sample_rate=16000", "n_fft=512"], true).unwrap();
        assert_eq!(
            (o.mel.f_max, o.mel.n_fft, o.split),
            (8000.0, 512, Some((0.2, 0)))
        );
    }

    #[test]
    fn inconsistent_values_are_errors() {
        let e = resolve(&["n_fft=128"], false).unwrap_err();
        assert!(
            e.to_string()
                .contains("n_fft = 128 is smaller than window = 256"),
            "{e}"
        );
        let e = resolve(&["f_max=5000"], false).unwrap_err();
        assert!(
            e.to_string()
                .contains("above the Nyquist frequency 4000 Hz"),
            "{e}"
        );
        let e = resolve(&["f_min=3000", "f_max=2000"], false).unwrap_err();
        assert!(e.to_string().contains("must be below"), "{e}");
        let e = resolve(&["test_fraction=0.5"], false).unwrap_err();
        assert!(
            e.to_string().contains("unknown option `test_fraction`"),
            "{e}"
        );
    }
}
