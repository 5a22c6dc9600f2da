//! WAV decoding with the checks a speech data set needs: mono, the expected sample rate,
//! PCM integer or 32-bit float samples, and no truncation.

use std::io::Cursor;
use std::path::Path;

use crate::load_error::{LoadError, LoadResult};

/// Decodes `bytes` (the content of `path`) into samples in `[-1, 1]`.
///
/// Integer PCM is scaled by `2^(bits-1)`, so a 16-bit sample `s` becomes `s / 32768` (the
/// convention of `torchaudio.load` and `soundfile`).
pub fn decode_wav(path: &Path, bytes: &[u8], sample_rate: u32) -> LoadResult<Vec<f32>> {
    let reader = hound::WavReader::new(Cursor::new(bytes))
        .map_err(|e| LoadError::bad_file(path, format!("not a readable WAV file: {e}")))?;
    let spec = reader.spec();
    if spec.channels != 1 {
        return Err(LoadError::bad_file(
            path,
            format!(
                "has {} channels; only mono recordings are supported",
                spec.channels
            ),
        ));
    }
    if spec.sample_rate != sample_rate {
        return Err(LoadError::bad_file(
            path,
            format!(
                "sample rate is {} Hz, expected {sample_rate} Hz (resample it, or set -D sample_rate={})",
                spec.sample_rate, spec.sample_rate
            ),
        ));
    }
    let declared = reader.len() as usize;
    let samples = read_samples(path, reader, spec)?;
    if samples.len() < declared {
        return Err(LoadError::bad_file(
            path,
            format!(
                "truncated: the header announces {declared} samples but only {} are present",
                samples.len()
            ),
        ));
    }
    if samples.is_empty() {
        return Err(LoadError::bad_file(path, "holds no samples"));
    }
    Ok(samples)
}

fn read_samples(
    path: &Path,
    mut reader: hound::WavReader<Cursor<&[u8]>>,
    spec: hound::WavSpec,
) -> LoadResult<Vec<f32>> {
    let truncated = |e: hound::Error| {
        LoadError::bad_file(path, format!("truncated or corrupt sample data: {e}"))
    };
    let mut out = Vec::with_capacity(reader.len() as usize);
    match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            for s in reader.samples::<i32>() {
                match s {
                    Ok(v) => out.push(v as f32 * scale),
                    // A sample cut in the middle: the file ends early.
                    Err(hound::Error::IoError(e))
                        if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                    {
                        break
                    }
                    Err(e) => return Err(truncated(e)),
                }
            }
        }
        hound::SampleFormat::Float => {
            for s in reader.samples::<f32>() {
                match s {
                    Ok(v) if v.is_finite() => out.push(v),
                    Ok(v) => {
                        return Err(LoadError::bad_file(
                            path,
                            format!("sample {} is {v}", out.len()),
                        ))
                    }
                    Err(hound::Error::IoError(e))
                        if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                    {
                        break
                    }
                    Err(e) => return Err(truncated(e)),
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(spec: hound::WavSpec, samples: &[i16]) -> Vec<u8> {
        let mut cursor = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        cursor.into_inner()
    }

    fn spec(channels: u16, rate: u32) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        }
    }

    #[test]
    fn scales_16_bit_samples() {
        let bytes = wav(spec(1, 8000), &[0, 16384, -32768, 32767]);
        let s = decode_wav(Path::new("a.wav"), &bytes, 8000).unwrap();
        assert_eq!(s, vec![0.0, 0.5, -1.0, 32767.0 / 32768.0]);
    }

    #[test]
    fn rejects_stereo_rate_truncation_and_garbage() {
        let p = Path::new("x/a.wav");
        let e = decode_wav(p, &wav(spec(2, 8000), &[1, 2, 3, 4]), 8000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x/a.wav: has 2 channels; only mono recordings are supported"
        );
        let e = decode_wav(p, &wav(spec(1, 16000), &[1, 2]), 8000).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x/a.wav: sample rate is 16000 Hz, expected 8000 Hz"),
            "{e}"
        );
        let full = wav(spec(1, 8000), &[1; 100]);
        let e = decode_wav(p, &full[..full.len() - 51], 8000).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = decode_wav(p, b"ID3\x03 this is an mp3", 8000).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x/a.wav: not a readable WAV file"),
            "{e}"
        );
        let e = decode_wav(p, &wav(spec(1, 8000), &[]), 8000).unwrap_err();
        assert!(e.to_string().contains("no samples"), "{e}");
    }
}
