"""Independent log-mel of one WAV in plain numpy (stdlib `wave` for reading), in the convention
dtprune documents in crates/dtprune-data/src/speech/mel.rs: periodic Hann, frames from sample 0
stepping by hop (last one zero padded), power spectrum, HTK triangular filters with peak 1,
ln(max(energy, floor)). Prints the [frames, n_mels] matrix as JSON.

usage: logmel_numpy.py FILE.wav window hop n_fft n_mels f_min f_max floor
"""
import json
import sys
import wave

import numpy as np


def main():
    path = sys.argv[1]
    window, hop, n_fft, n_mels = (int(a) for a in sys.argv[2:6])
    f_min, f_max, floor = (float(a) for a in sys.argv[6:9])
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        sr = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
    frames = 1 + max(0, -(-(len(x) - window) // hop)) if len(x) > window else 1
    x = np.concatenate([x, np.zeros((frames - 1) * hop + window - len(x) if (frames - 1) * hop + window > len(x) else 0)])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)
    idx = np.arange(window)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * hann, n=n_fft, axis=1)) ** 2
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    pts = hz(np.linspace(mel(f_min), mel(f_max), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    rise = (freqs[None, :] - pts[:-2, None]) / (pts[1:-1, None] - pts[:-2, None])
    fall = (pts[2:, None] - freqs[None, :]) / (pts[2:, None] - pts[1:-1, None])
    bank = np.maximum(0.0, np.minimum(rise, fall))
    out = np.log(np.maximum(spec @ bank.T, floor))
    json.dump(out.tolist(), sys.stdout)


main()
