//! A V4L2 camera's frame buffers as grey frames for the decoder: GREY (Y800), YUYV 4:2:2 and
//! MJPEG, the formats USB webcams and document cameras offer. Only luma is needed to read a code,
//! so GREY rows are copied, YUYV keeps every other byte, and MJPEG is decoded (the `image`
//! crate's JPEG decoder, through [`load_image`] with its size limits) and turned grey.
//!
//! Pure functions over bytes: a buffer of the wrong size, a stride that cannot hold a row, or a
//! broken JPEG is a [`ConvertError`], never a panic, whatever the driver hands over.

use serde::{Deserialize, Serialize};

use crate::vision::frames::Frame;
use crate::vision::guard;
use crate::vision::load::{ImageLimits, LoadError, check_size, load_image};

/// A pixel format the camera may be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PixelFormat {
    /// 8-bit grey, one byte a pixel (V4L2 `GREY`, also `Y800`): nothing to convert.
    Grey,
    /// YUV 4:2:2 packed as Y0 U Y1 V (V4L2 `YUYV`): most webcams' uncompressed format.
    Yuyv,
    /// Motion JPEG (V4L2 `MJPG` or `JPEG`): each frame a JPEG; the only format many webcams
    /// offer at 1280×720 and above over USB 2.
    Mjpeg,
}

impl PixelFormat {
    /// Cheapest to convert first: no conversion, then dropping chroma, then a JPEG decode.
    pub const PREFERENCE: [PixelFormat; 3] =
        [PixelFormat::Grey, PixelFormat::Yuyv, PixelFormat::Mjpeg];

    /// The V4L2 four-character codes of this format.
    pub fn fourccs(self) -> &'static [[u8; 4]] {
        const GREY: &[[u8; 4]] = &[*b"GREY", *b"Y800"];
        const YUYV: &[[u8; 4]] = &[*b"YUYV"];
        const MJPEG: &[[u8; 4]] = &[*b"MJPG", *b"JPEG"];
        match self {
            PixelFormat::Grey => GREY,
            PixelFormat::Yuyv => YUYV,
            PixelFormat::Mjpeg => MJPEG,
        }
    }

    /// Bytes a pixel takes in a raw row; `None` for a compressed format.
    fn bytes_per_pixel(self) -> Option<u32> {
        match self {
            PixelFormat::Grey => Some(1),
            PixelFormat::Yuyv => Some(2),
            PixelFormat::Mjpeg => None,
        }
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PixelFormat::Grey => "GREY",
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Mjpeg => "MJPEG",
        })
    }
}

/// The formats to ask the camera for, in order: each preferred format's codes that the camera
/// offers (`offered`, as it lists them).
pub fn candidates(preference: &[PixelFormat], offered: &[[u8; 4]]) -> Vec<(PixelFormat, [u8; 4])> {
    let mut out = Vec::new();
    for &format in preference {
        for code in format.fourccs() {
            if offered.contains(code) && !out.contains(&(format, *code)) {
                out.push((format, *code));
            }
        }
    }
    out
}

/// A four-character code as text, for messages (`"MJPG"`, or hex when not printable).
pub fn fourcc_name(code: [u8; 4]) -> String {
    if code.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        code.iter().map(|&b| char::from(b)).collect()
    } else {
        format!("0x{:08x}", u32::from_le_bytes(code))
    }
}

/// What the camera agreed to send: its format, size and bytes per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Pixel format.
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row's start to the next (`bytesperline`); 0 when the driver left it to
    /// be the row's own length. Ignored for MJPEG.
    pub stride: u32,
}

/// Why a buffer is not a frame. For the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The negotiated size has no pixels.
    #[error("the camera's frame size {width}×{height} has no pixels")]
    NoPixels {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// The frame is larger than the decoder's limits.
    #[error("the camera's {width}×{height} frame is larger than allowed")]
    TooLarge {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// The stride cannot hold a row of pixels.
    #[error("{stride} bytes per line cannot hold {width} {format} pixels")]
    BadStride {
        /// The format.
        format: PixelFormat,
        /// Width in pixels.
        width: u32,
        /// Bytes per line the driver gave.
        stride: u32,
    },
    /// Fewer bytes than the size needs.
    #[error("the {format} frame has {got} bytes, {width}×{height} needs {need}")]
    Truncated {
        /// The format.
        format: PixelFormat,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Bytes needed.
        need: u64,
        /// Bytes given.
        got: usize,
    },
    /// An MJPEG frame that does not start like a JPEG.
    #[error("the MJPEG frame does not start with a JPEG header")]
    NotJpeg,
    /// An MJPEG frame the JPEG decoder refused.
    #[error("the MJPEG frame cannot be decoded: {0}")]
    Jpeg(String),
}

/// Turns one buffer from the camera into a grey frame.
pub fn to_frame(
    layout: &Layout,
    bytes: &[u8],
    limits: &ImageLimits,
) -> Result<Frame, ConvertError> {
    let Some(bpp) = layout.format.bytes_per_pixel() else {
        return mjpeg(bytes, limits);
    };
    let (width, height) = (layout.width, layout.height);
    check_size(width, height, limits).map_err(|e| match e {
        LoadError::NoPixels => ConvertError::NoPixels { width, height },
        _ => ConvertError::TooLarge { width, height },
    })?;
    let row = width as usize * bpp as usize;
    let stride = match layout.stride {
        0 => row,
        s if (s as usize) < row => {
            return Err(ConvertError::BadStride {
                format: layout.format,
                width,
                stride: s,
            });
        }
        s => s as usize,
    };
    // The last row needs only its pixels, not the padding after them.
    let need = stride as u64 * u64::from(height - 1) + row as u64;
    let truncated = || ConvertError::Truncated {
        format: layout.format,
        width,
        height,
        need,
        got: bytes.len(),
    };
    if (bytes.len() as u64) < need {
        return Err(truncated());
    }
    let mut luma = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height as usize {
        let start = y * stride;
        let line = bytes.get(start..start + row).ok_or_else(truncated)?;
        match layout.format {
            // Pairs rather than `step_by(2)`: the compiler vectorises this, ten times faster.
            PixelFormat::Yuyv => luma.extend(line.chunks_exact(2).map(|pair| pair[0])),
            _ => luma.extend_from_slice(line),
        }
    }
    Ok(Frame {
        width,
        height,
        luma,
    })
}

/// An MJPEG frame: a whole JPEG, whatever size it says it is (within the limits).
fn mjpeg(bytes: &[u8], limits: &ImageLimits) -> Result<Frame, ConvertError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(ConvertError::NotJpeg);
    }
    // The JPEG decoder sees bytes straight from a USB device; a panic in it must cost one
    // frame, not the camera thread.
    let image = guard::run(|| load_image(bytes, limits))
        .map_err(|guard::Panicked(message)| ConvertError::Jpeg(message))?
        .map_err(|e| ConvertError::Jpeg(e.to_string()))?;
    Ok(Frame {
        width: image.width(),
        height: image.height(),
        luma: image.into_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::decode::{Decoder, Effort};
    use image::GrayImage;
    use proptest::prelude::*;

    const TEXT: &str = "URNA1:GWU2-2223-X:1763769600:0a1b2c3d";

    /// A code drawn on a 320×240 grey scene, as a camera might see it.
    fn scene() -> GrayImage {
        let code = qrcode::QrCode::new(TEXT.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        let code = code
            .render::<image::Luma<u8>>()
            .module_dimensions(4, 4)
            .build();
        let mut scene = GrayImage::from_pixel(320, 240, image::Luma([170]));
        image::imageops::overlay(&mut scene, &code, 60, 20);
        scene
    }

    fn read(frame: Frame) -> String {
        Decoder::default()
            .decode_luma(frame.luma, frame.width, frame.height, Effort::Frame, None)
            .map(|c| c.text)
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn layout(format: PixelFormat, stride: u32) -> Layout {
        Layout {
            format,
            width: 320,
            height: 240,
            stride,
        }
    }

    /// The scene as YUYV: its grey as Y, neutral chroma, rows padded to `stride` bytes.
    fn yuyv(scene: &GrayImage, stride: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for row in scene.rows() {
            let start = bytes.len();
            for (i, pixel) in row.enumerate() {
                bytes.push(pixel.0[0]);
                bytes.push(if i % 2 == 0 { 100 } else { 160 });
            }
            bytes.resize(start + stride, 0xAA);
        }
        bytes
    }

    #[test]
    fn grey_frames_with_padded_rows_read() {
        let scene = scene();
        let mut bytes = Vec::new();
        for row in scene.rows() {
            bytes.extend(row.map(|p| p.0[0]));
            bytes.extend([7u8; 64]);
        }
        let frame = to_frame(
            &layout(PixelFormat::Grey, 384),
            &bytes,
            &ImageLimits::default(),
        );
        let frame = frame.unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(frame.luma, scene.as_raw().clone());
        assert_eq!(read(frame), TEXT);
    }

    #[test]
    fn yuyv_frames_read() {
        let scene = scene();
        for stride in [0, 640, 704] {
            let bytes = yuyv(&scene, stride.max(640));
            let frame = to_frame(
                &layout(PixelFormat::Yuyv, stride as u32),
                &bytes,
                &ImageLimits::default(),
            )
            .unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(frame.luma, scene.as_raw().clone(), "stride {stride}");
            assert_eq!(read(frame), TEXT);
        }
    }

    #[test]
    fn mjpeg_frames_read() {
        let rgb = image::DynamicImage::ImageLuma8(scene()).into_rgb8();
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
            .encode_image(&rgb)
            .unwrap_or_else(|e| unreachable!("{e}"));
        // A driver's buffer is larger than the JPEG in it: what follows must not matter.
        let mut buffer = jpeg.clone();
        buffer.resize(jpeg.len() + 4096, 0);
        for bytes in [&jpeg, &buffer] {
            let frame = to_frame(
                &layout(PixelFormat::Mjpeg, 0),
                bytes,
                &ImageLimits::default(),
            )
            .unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!((frame.width, frame.height), (320, 240));
            assert_eq!(read(frame), TEXT);
        }
    }

    #[test]
    fn bad_buffers_are_clear_errors() {
        let limits = ImageLimits::default();
        let short = vec![0u8; 320 * 240 - 1];
        assert_eq!(
            to_frame(&layout(PixelFormat::Grey, 0), &short, &limits),
            Err(ConvertError::Truncated {
                format: PixelFormat::Grey,
                width: 320,
                height: 240,
                need: 320 * 240,
                got: 320 * 240 - 1
            })
        );
        assert_eq!(
            to_frame(&layout(PixelFormat::Yuyv, 639), &[0; 640 * 240], &limits),
            Err(ConvertError::BadStride {
                format: PixelFormat::Yuyv,
                width: 320,
                stride: 639
            })
        );
        let empty = Layout {
            width: 0,
            ..layout(PixelFormat::Grey, 0)
        };
        assert_eq!(
            to_frame(&empty, &[], &limits),
            Err(ConvertError::NoPixels {
                width: 0,
                height: 240
            })
        );
        let huge = Layout {
            width: 100_000,
            height: 100_000,
            ..layout(PixelFormat::Grey, 0)
        };
        assert!(matches!(
            to_frame(&huge, &[], &limits),
            Err(ConvertError::TooLarge { .. })
        ));
        assert_eq!(
            to_frame(&layout(PixelFormat::Mjpeg, 0), b"not a jpeg", &limits),
            Err(ConvertError::NotJpeg)
        );
        let cut = to_frame(
            &layout(PixelFormat::Mjpeg, 0),
            &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16],
            &limits,
        );
        assert!(matches!(cut, Err(ConvertError::Jpeg(_))), "{cut:?}");
        let message = to_frame(&layout(PixelFormat::Grey, 0), &short, &limits)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some("the GREY frame has 76799 bytes, 320×240 needs 76800")
        );
    }

    #[test]
    fn formats_are_asked_for_in_order_of_preference() {
        let offered = [*b"MJPG", *b"YUYV", *b"Y800", *b"RGB3"];
        assert_eq!(
            candidates(&PixelFormat::PREFERENCE, &offered),
            vec![
                (PixelFormat::Grey, *b"Y800"),
                (PixelFormat::Yuyv, *b"YUYV"),
                (PixelFormat::Mjpeg, *b"MJPG")
            ]
        );
        assert_eq!(
            candidates(&[PixelFormat::Mjpeg, PixelFormat::Mjpeg], &offered),
            vec![(PixelFormat::Mjpeg, *b"MJPG")]
        );
        assert!(candidates(&PixelFormat::PREFERENCE, &[*b"RGB3"]).is_empty());
        assert_eq!(fourcc_name(*b"MJPG"), "MJPG");
        assert_eq!(fourcc_name([1, 0, 0, 0]), "0x00000001");
    }

    fn any_format() -> impl Strategy<Value = PixelFormat> {
        prop_oneof![
            Just(PixelFormat::Grey),
            Just(PixelFormat::Yuyv),
            Just(PixelFormat::Mjpeg)
        ]
    }

    proptest! {
        #[test]
        fn any_buffer_is_a_frame_or_an_error_never_a_panic(
            format in any_format(),
            width in 0u32..80,
            height in 0u32..80,
            stride in 0u32..200,
            bytes in proptest::collection::vec(any::<u8>(), 0..12_000),
        ) {
            let layout = Layout { format, width, height, stride };
            if let Ok(frame) = to_frame(&layout, &bytes, &ImageLimits::default()) {
                prop_assert_eq!(frame.luma.len() as u64, u64::from(frame.width) * u64::from(frame.height));
                if format != PixelFormat::Mjpeg {
                    prop_assert_eq!((frame.width, frame.height), (width, height));
                }
            }
        }

        #[test]
        fn a_whole_raw_frame_converts_and_any_cut_is_refused(
            yuyv in any::<bool>(),
            width in 1u32..64,
            height in 1u32..64,
            padding in 0u32..16,
            cut in 1usize..64,
        ) {
            let format = if yuyv { PixelFormat::Yuyv } else { PixelFormat::Grey };
            let bpp = if yuyv { 2 } else { 1 };
            let stride = width * bpp + padding;
            let layout = Layout { format, width, height, stride };
            let len = (stride * height) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let frame = to_frame(&layout, &bytes, &ImageLimits::default());
            prop_assert!(frame.is_ok(), "{:?}", frame);
            let need = (stride * (height - 1) + width * bpp) as usize;
            let short = &bytes[..need.saturating_sub(cut)];
            let refused = matches!(
                to_frame(&layout, short, &ImageLimits::default()),
                Err(ConvertError::Truncated { .. })
            );
            prop_assert!(refused);
        }

        #[test]
        fn a_cut_jpeg_is_an_error_not_a_panic(cut in 0usize..2000, flip in 0usize..2000) {
            let mut jpeg = Vec::new();
            let small = image::imageops::resize(
                &scene(), 80, 60, image::imageops::FilterType::Nearest);
            let rgb = image::DynamicImage::ImageLuma8(small).into_rgb8();
            image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
                .encode_image(&rgb)
                .unwrap_or_else(|e| unreachable!("{e}"));
            let mut damaged = jpeg[..cut.min(jpeg.len())].to_vec();
            if let Some(b) = damaged.get_mut(flip) {
                *b ^= 0x5A;
            }
            let _ = to_frame(&layout(PixelFormat::Mjpeg, 0), &damaged, &ImageLimits::default());
        }
    }
}
