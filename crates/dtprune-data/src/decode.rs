//! Decoding one PNG or JPEG file into channel-major u8 pixels.

use std::path::Path;

use image::{DynamicImage, ImageFormat};

use crate::error::{DataError, Result};

/// One decoded image: `channels` planes of `rows × cols` bytes, channel-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub channels: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl Decoded {
    /// `CxHxW`, for messages.
    pub fn shape_text(&self) -> String {
        format!("{}x{}x{}", self.channels, self.rows, self.cols)
    }
}

/// File name endings read as images (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Whether `path` names a PNG or JPEG file by its extension.
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Decodes `bytes` (the content of `path`, which names it in errors). Grey images (with or
/// without alpha) give one channel, colour images three; alpha is dropped and 16-bit samples
/// are reduced to 8 bits.
pub fn decode_image(path: &Path, bytes: &[u8]) -> Result<Decoded> {
    let bad = |message: String| DataError::BadImage {
        path: path.to_path_buf(),
        message,
    };
    let format = ImageFormat::from_path(path)
        .ok()
        .filter(|f| matches!(f, ImageFormat::Png | ImageFormat::Jpeg))
        .ok_or_else(|| bad("the name does not end in .png, .jpg or .jpeg".into()))?;
    let image = image::load_from_memory_with_format(bytes, format).map_err(|e| bad(e.to_string()))?;
    let (cols, rows) = (image.width() as usize, image.height() as usize);
    let grey = matches!(
        image,
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_) | DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA16(_)
    );
    let (channels, interleaved) = if grey {
        (1, image.into_luma8().into_raw())
    } else {
        (3, image.into_rgb8().into_raw())
    };
    Ok(Decoded {
        channels,
        rows,
        cols,
        pixels: to_channel_major(&interleaved, channels),
    })
}

/// `[rows·cols, channels]` (how image files store pixels) to `[channels, rows·cols]`.
fn to_channel_major(interleaved: &[u8], channels: usize) -> Vec<u8> {
    if channels == 1 {
        return interleaved.to_vec();
    }
    let plane = interleaved.len() / channels;
    let mut out = vec![0u8; interleaved.len()];
    for (i, px) in interleaved.chunks_exact(channels).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            out[c * plane + i] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_to_planes() {
        // Two RGB pixels (1,2,3) and (4,5,6) → planes R = [1,4], G = [2,5], B = [3,6].
        assert_eq!(to_channel_major(&[1, 2, 3, 4, 5, 6], 3), vec![1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn png_round_trip_grey_and_colour() {
        let mut png = Vec::new();
        let grey = image::GrayImage::from_raw(2, 1, vec![10, 200]).unwrap();
        grey.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png).unwrap();
        let d = decode_image(Path::new("a.png"), &png).unwrap();
        assert_eq!((d.channels, d.rows, d.cols, d.pixels), (1, 1, 2, vec![10, 200]));

        let mut png = Vec::new();
        let rgb = image::RgbImage::from_raw(1, 2, vec![1, 2, 3, 4, 5, 6]).unwrap();
        rgb.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png).unwrap();
        let d = decode_image(Path::new("b.PNG"), &png).unwrap();
        assert_eq!((d.channels, d.rows, d.cols, d.pixels), (3, 2, 1, vec![1, 4, 2, 5, 3, 6]));
    }

    #[test]
    fn garbage_names_the_file() {
        let e = decode_image(Path::new("x/bad.jpg"), b"not a jpeg").unwrap_err().to_string();
        assert!(e.starts_with("x/bad.jpg: not a readable image"), "{e}");
        let e = decode_image(Path::new("x/notes.txt"), b"").unwrap_err().to_string();
        assert!(e.contains("x/notes.txt") && e.contains(".png"), "{e}");
    }
}
