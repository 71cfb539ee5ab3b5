//! Image files read into grey pixels, refused with a clear reason when they are not a picture,
//! are cut short, or are too large. Sizes are checked from the file's header, before any pixel is
//! decoded, so a hostile or broken file costs no more memory than the limits allow.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// How large a picture may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest file in bytes.
    pub max_bytes: usize,
    /// Most pixels (width × height).
    pub max_pixels: u64,
    /// Longest side in pixels.
    pub max_side: u32,
}

impl Default for ImageLimits {
    /// An A4 page scanned at 600 dpi (about 35 megapixels) fits; a decompression bomb does not.
    fn default() -> ImageLimits {
        ImageLimits {
            max_bytes: 64 * 1024 * 1024,
            max_pixels: 40_000_000,
            max_side: 16_384,
        }
    }
}

/// Why a picture was refused. Shown to staff: Polish, then English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Nothing in the file.
    #[error("Plik jest pusty / The file is empty")]
    Empty,
    /// The file is larger than allowed.
    #[error(
        "Plik ma {bytes} bajtów, dopuszczalne {max} / The file has {bytes} bytes, at most {max} allowed"
    )]
    TooManyBytes {
        /// The file's size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Not PNG, JPEG, WebP or TIFF.
    #[error("To nie jest obraz PNG, JPEG, WebP ani TIFF / Not a PNG, JPEG, WebP or TIFF image")]
    UnknownFormat,
    /// The header announces a picture larger than allowed.
    #[error("Obraz {width}×{height} jest za duży / The {width}×{height} image is too large")]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
    /// Decoding it would need more memory than the limits allow.
    #[error("Obraz przekracza dopuszczalny rozmiar / The image exceeds the size limits")]
    OverLimits,
    /// The picture has no pixels.
    #[error("Obraz nie ma pikseli / The image has no pixels")]
    NoPixels,
    /// The file is cut short or damaged.
    #[error("Obraz jest uszkodzony lub niepełny / The image is damaged or truncated: {0}")]
    Damaged(String),
}

/// The formats document scanners write; anything else is refused before a decoder sees it.
fn supported(format: ImageFormat) -> bool {
    matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Tiff
    )
}

/// Checks a picture's dimensions against `limits`.
pub fn check_size(width: u32, height: u32, limits: &ImageLimits) -> Result<(), LoadError> {
    if width == 0 || height == 0 {
        return Err(LoadError::NoPixels);
    }
    if width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(LoadError::TooLarge { width, height });
    }
    Ok(())
}

/// Reads a PNG, JPEG, WebP or TIFF file's bytes into grey pixels.
pub fn load_image(bytes: &[u8], limits: &ImageLimits) -> Result<GrayImage, LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(LoadError::TooManyBytes {
            bytes: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|_| LoadError::UnknownFormat)?;
    if !supported(format) {
        return Err(LoadError::UnknownFormat);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // The decoders' own allocation limit backs up the header check: a TIFF's strips or a PNG's
    // chunks may ask for more than the header's size suggests.
    let mut decoder_limits = Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(4));
    reader.limits(decoder_limits);
    let decoder = reader.into_decoder().map_err(classify)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, limits)?;
    let image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    Ok(image.into_luma8())
}

fn classify(e: image::ImageError) -> LoadError {
    match e {
        image::ImageError::Limits(_) => LoadError::OverLimits,
        image::ImageError::Unsupported(_) => LoadError::UnknownFormat,
        other => LoadError::Damaged(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = GrayImage::from_pixel(width, height, image::Luma([200]));
        let mut out = Cursor::new(Vec::new());
        image
            .write_to(&mut out, ImageFormat::Png)
            .unwrap_or_else(|e| unreachable!("{e}"));
        out.into_inner()
    }

    #[test]
    fn a_png_loads_as_grey() {
        let image = load_image(&png(30, 20), &ImageLimits::default());
        assert_eq!(image.map(|i| i.dimensions()), Ok((30, 20)));
    }

    #[test]
    fn garbage_empty_and_truncated_files_are_refused() {
        let limits = ImageLimits::default();
        assert_eq!(load_image(b"", &limits), Err(LoadError::Empty));
        assert_eq!(
            load_image(b"hello, not a picture", &limits),
            Err(LoadError::UnknownFormat)
        );
        let whole = png(64, 64);
        let cut = &whole[..whole.len() / 2];
        assert!(matches!(
            load_image(cut, &limits),
            Err(LoadError::Damaged(_))
        ));
    }

    #[test]
    fn a_picture_over_the_limits_is_refused_from_its_header() {
        let limits = ImageLimits {
            max_pixels: 100,
            ..ImageLimits::default()
        };
        assert_eq!(
            load_image(&png(11, 10), &limits),
            Err(LoadError::TooLarge {
                width: 11,
                height: 10
            })
        );
        assert!(load_image(&png(10, 10), &limits).is_ok());
    }

    #[test]
    fn other_formats_are_refused() {
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(
            load_image(&gif, &ImageLimits::default()),
            Err(LoadError::UnknownFormat)
        );
    }
}
