//! Log-mel spectrogram: periodic Hann window, power spectrum by real FFT (`realfft`), a
//! triangular mel filterbank in the **HTK convention** and a natural-log floor.
//!
//! Convention, stated once so a reader can reproduce it (it equals torchaudio's
//! `MelSpectrogram(n_fft, win_length, hop_length, f_min, f_max, n_mels, window_fn=hann_window,
//! power=2, center=False, mel_scale="htk", norm=None)` up to the framing of the last samples):
//! - mel(f) = 2595·log10(1 + f/700) (HTK), `n_mels + 2` points equally spaced in mel between
//!   `f_min` and `f_max`, converted back to Hz;
//! - filter m is the triangle rising from point m to point m+1 and falling to point m+2,
//!   evaluated at the FFT bin frequencies `k·sr/n_fft`, peak 1 (no Slaney area normalisation);
//! - frames start at sample 0 and step by `hop`; there are `1 + ceil((n − window)/hop)` of them
//!   (one when the clip is shorter than a window); samples past the end are zeros;
//! - each frame is multiplied by the periodic Hann window `0.5 − 0.5·cos(2πn/window)`, zero
//!   padded to `n_fft`, and its power `|X_k|²` is taken for `k = 0..=n_fft/2`;
//! - the feature is `ln(max(mel_energy, floor))`.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// The parameters of the transform (validated by the speech options before they get here).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MelConfig {
    pub sample_rate: u32,
    pub window: usize,
    pub hop: usize,
    pub n_fft: usize,
    pub n_mels: usize,
    pub f_min: f64,
    pub f_max: f64,
    pub log_floor: f64,
}

/// HTK mel scale.
pub fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

pub fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// Periodic Hann window of length `n` (the one `torch.hann_window(n)` returns).
pub fn hann_window(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
        .collect()
}

/// The filterbank, row-major `[n_mels, n_fft/2 + 1]`.
pub fn mel_filterbank(
    sample_rate: u32,
    n_fft: usize,
    n_mels: usize,
    f_min: f64,
    f_max: f64,
) -> Vec<f32> {
    let n_freqs = n_fft / 2 + 1;
    let (m_lo, m_hi) = (hz_to_mel(f_min), hz_to_mel(f_max));
    let points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(m_lo + (m_hi - m_lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut bank = vec![0f32; n_mels * n_freqs];
    for m in 0..n_mels {
        let (left, center, right) = (points[m], points[m + 1], points[m + 2]);
        for k in 0..n_freqs {
            let f = k as f64 * sample_rate as f64 / n_fft as f64;
            let rise = (f - left) / (center - left);
            let fall = (right - f) / (right - center);
            bank[m * n_freqs + k] = rise.min(fall).max(0.0) as f32;
        }
    }
    bank
}

/// Number of frames for a clip of `n` samples (see the module comment).
pub fn frame_count(n: usize, window: usize, hop: usize) -> usize {
    1 + n.saturating_sub(window).div_ceil(hop)
}

/// A planned transform: reuse one per thread for many clips.
pub struct LogMel {
    config: MelConfig,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    bank: Vec<f32>,
}

impl LogMel {
    pub fn new(config: MelConfig) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(config.n_fft);
        Self {
            window: hann_window(config.window),
            bank: mel_filterbank(
                config.sample_rate,
                config.n_fft,
                config.n_mels,
                config.f_min,
                config.f_max,
            ),
            fft,
            config,
        }
    }

    pub fn config(&self) -> &MelConfig {
        &self.config
    }

    /// Log-mel features of `samples`, row-major `[frames, n_mels]`, and the frame count.
    pub fn compute(&self, samples: &[f32]) -> (Vec<f32>, usize) {
        let c = &self.config;
        let frames = frame_count(samples.len(), c.window, c.hop);
        let n_freqs = c.n_fft / 2 + 1;
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut power = vec![0f32; n_freqs];
        let mut out = Vec::with_capacity(frames * c.n_mels);
        for t in 0..frames {
            self.windowed_frame(samples, t * c.hop, &mut input);
            self.fft
                .process(&mut input, &mut spectrum)
                .expect("buffer lengths come from the plan");
            for (p, x) in power.iter_mut().zip(&spectrum) {
                *p = x.re * x.re + x.im * x.im;
            }
            for m in 0..c.n_mels {
                let row = &self.bank[m * n_freqs..(m + 1) * n_freqs];
                let energy: f64 = row
                    .iter()
                    .zip(&power)
                    .map(|(w, p)| f64::from(*w) * f64::from(*p))
                    .sum();
                out.push(energy.max(c.log_floor).ln() as f32);
            }
        }
        (out, frames)
    }

    /// Fills `buf` (length `n_fft`) with the windowed frame starting at `start`, zero padded.
    fn windowed_frame(&self, samples: &[f32], start: usize, buf: &mut [f32]) {
        buf.fill(0.0);
        for (i, w) in self.window.iter().enumerate() {
            if let Some(s) = samples.get(start + i) {
                buf[i] = s * w;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn htk_mel_scale_round_trips() {
        // 2595·log10(1 + 700/700) = 2595·log10(2) = 781.17...
        assert!(close(hz_to_mel(700.0), 2595.0 * 2f64.log10(), 1e-9));
        assert!(close(hz_to_mel(0.0), 0.0, 1e-12));
        for f in [0.0, 123.0, 1000.0, 4000.0] {
            assert!(close(mel_to_hz(hz_to_mel(f)), f, 1e-9));
        }
    }

    #[test]
    fn periodic_hann() {
        // 0.5 − 0.5·cos(2πn/4) for n = 0..3
        let w = hann_window(4);
        let want = [0.0, 0.5, 1.0, 0.5];
        for (a, b) in w.iter().zip(want) {
            assert!(close(f64::from(*a), b, 1e-7), "{w:?}");
        }
    }

    #[test]
    fn one_filter_by_hand() {
        // sr 8000, n_fft 8: bins at 0, 1000, 2000, 3000, 4000 Hz. One mel filter over
        // [0, 4000]: mel(4000) = 2146.0645, centre mel 1073.0323 → 1113.8357 Hz.
        // Rising edge f/1113.8357, falling edge (4000 − f)/(4000 − 1113.8357).
        let bank = mel_filterbank(8000, 8, 1, 0.0, 4000.0);
        let want = [
            0.0,
            1000.0 / 1113.8357,
            2000.0 / 2886.1643,
            1000.0 / 2886.1643,
            0.0,
        ];
        assert_eq!(bank.len(), 5);
        for (a, b) in bank.iter().zip(want) {
            assert!(close(f64::from(*a), b, 1e-5), "{bank:?}");
        }
    }

    #[test]
    fn filters_are_triangles_that_tile() {
        // Two adjacent HTK triangles cross where one falls and the next rises: between two
        // centres their sum is 1 (peak-1 triangles share edges).
        let bank = mel_filterbank(8000, 256, 10, 0.0, 4000.0);
        let n_freqs = 129;
        for k in 20..100 {
            let col: f32 = (0..10).map(|m| bank[m * n_freqs + k]).sum();
            assert!(close(f64::from(col), 1.0, 1e-5), "bin {k}: {col}");
        }
    }

    #[test]
    fn frame_counts() {
        assert_eq!(frame_count(10, 4, 3), 3); // starts 0, 3, 6
        assert_eq!(frame_count(11, 4, 3), 4); // start 9 reads past the end: zeros
        assert_eq!(frame_count(2, 4, 3), 1);
        assert_eq!(frame_count(4, 4, 3), 1);
    }

    #[test]
    fn log_mel_of_a_constant_by_hand() {
        // Signal a = 0.5, window 4 = n_fft: windowed frame [0, .25, .5, .25].
        // X0 = 1, X1 = 0 − .25i − .5 + .25i = −0.5, X2 = 0 − .25 + .5 − .25 = 0.
        // Power [1, 0.25, 0]. sr 8000 → bins 0, 2000, 4000 Hz. One filter over [0, 4000]
        // peaks at 1113.8357 Hz; weight of bin 1 = 2000/2886.1643; bin 0 and 2 weigh 0.
        // Energy = 0.25·0.692961 = 0.173240; ln = −1.752898.
        let lm = LogMel::new(MelConfig {
            sample_rate: 8000,
            window: 4,
            hop: 4,
            n_fft: 4,
            n_mels: 1,
            f_min: 0.0,
            f_max: 4000.0,
            log_floor: 1e-6,
        });
        let (f, frames) = lm.compute(&[0.5; 4]);
        assert_eq!(frames, 1);
        assert!(
            close(f64::from(f[0]), (0.25f64 * 2000.0 / 2886.1643).ln(), 1e-5),
            "{f:?}"
        );
        // Silence hits the floor: ln(1e-6).
        let (f, _) = lm.compute(&[0.0; 4]);
        assert!(close(f64::from(f[0]), 1e-6f64.ln(), 1e-5));
    }
}
