//! urna's QR decoder: a picture in, the text of the code in it out, or a clear reason why not.
//!
//! Strategies are tried cheapest first and the first code read ends the search: the region where
//! the previous frame's code was, then rxing (a port of ZXing, whose hybrid binariser and
//! detector read most photos in a fraction of a millisecond), then rqrr on the picture as it is,
//! on a global (Otsu) and an adaptive binarisation, inverted for light-on-dark codes, and on the
//! scale pyramid (half size for coarse photos, double for small distant codes). Every strategy
//! runs under [`guard::run`], so a panicking decoder costs one strategy, never the station.
//! Why both decoders: measured on 132 real photos, neither alone reads every one the other reads
//! (see BENCHMARKS.md).

use std::time::{Duration, Instant};

use image::GrayImage;
use rxing::{BarcodeFormat, DecodeHints};

use crate::vision::binarize;
use crate::vision::charset;
use crate::vision::guard;
use crate::vision::load::{ImageLimits, check_size};
use crate::vision::roi::Rect;
use crate::vision::scale;

/// How hard to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// A video frame: another comes in a moment, so only the quick strategies.
    Frame,
    /// A photo or scanned page: every strategy until one reads or the time budget is spent.
    Thorough,
}

/// One way of reading a picture, reported with each code (for tuning and the benchmark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// rxing on the region where the last code was.
    Region,
    /// rxing's quick search (every few rows, upright only) on the whole picture: most photos read
    /// in it, in about half the time of the full search.
    Quick,
    /// rxing on the whole picture, at a scale (1, ½ or 2).
    Zxing(Scale),
    /// rqrr, after a binarisation, at a scale.
    Rqrr(Binarization, Scale),
}

/// A binarisation rqrr is given the picture after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binarization {
    /// rqrr's own thresholding.
    Native,
    /// One threshold, Otsu's.
    Otsu,
    /// A threshold following the local mean.
    Adaptive,
    /// rqrr's own, on the inverted picture.
    Inverted,
}

/// A scale of the pyramid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// As taken (large pictures are first halved to [`Decoder::max_side`]).
    Full,
    /// Half size.
    Half,
    /// Double size.
    Double,
}

/// A code read from a picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// What it says.
    pub text: String,
    /// Where it is in the picture, when the decoder said.
    pub bounds: Option<Rect>,
    /// Which strategy read it.
    pub strategy: Strategy,
}

/// Why no code came out of a picture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The picture has no pixels.
    #[error("Obraz nie ma pikseli / The image has no pixels")]
    NoPixels,
    /// The picture is larger than the limits.
    #[error("Obraz {width}×{height} jest za duży / The {width}×{height} image is too large")]
    TooLarge {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// The pixel buffer does not match the stated size.
    #[error("Bufor obrazu ma złą długość / The image buffer has the wrong length")]
    BadBuffer,
    /// Every strategy ran and none read a code.
    #[error("Nie znaleziono kodu QR / No QR code found")]
    NotFound,
    /// Every strategy that ran failed and at least one of them panicked.
    #[error("Dekoder zawiódł / The decoder failed: {0}")]
    Panicked(String),
}

/// The decoder, with its limits.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// Pictures larger than these are refused.
    pub limits: ImageLimits,
    /// rqrr's strategies run on the picture halved until its longer side is at most this:
    /// beyond it they only get slower.
    pub max_side: u32,
    /// A thorough search stops starting new strategies after this long.
    pub budget: Duration,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder {
            limits: ImageLimits::default(),
            max_side: 1600,
            budget: Duration::from_millis(1500),
        }
    }
}

impl Decoder {
    /// Reads the QR code in `image`, looking first in `region` (the last frame's code) if given.
    pub fn decode(
        &self,
        image: &GrayImage,
        effort: Effort,
        region: Option<Rect>,
    ) -> Result<Code, DecodeError> {
        let (width, height) = image.dimensions();
        check_size(width, height, &self.limits).map_err(|e| match e {
            crate::vision::load::LoadError::NoPixels => DecodeError::NoPixels,
            _ => DecodeError::TooLarge { width, height },
        })?;
        let started = Instant::now();
        let mut panicked: Option<String> = None;
        let mut attempt = |strategy: Strategy| -> Option<Code> {
            match guard::run(|| self.run(image, strategy, region)) {
                Ok(code) => code,
                Err(guard::Panicked(message)) => {
                    tracing::warn!("QR decoder panicked ({strategy:?}): {message}");
                    panicked = Some(message);
                    None
                }
            }
        };
        if region.is_some()
            && let Some(code) = attempt(Strategy::Region)
        {
            return Ok(code);
        }
        let plan: &[Strategy] = match effort {
            Effort::Frame => &FRAME_PLAN,
            Effort::Thorough => &THOROUGH_PLAN,
        };
        for (i, &strategy) in plan.iter().enumerate() {
            if i > 0 && effort == Effort::Thorough && started.elapsed() > self.budget {
                break;
            }
            if let Some(code) = attempt(strategy) {
                return Ok(code);
            }
        }
        match panicked {
            Some(message) => Err(DecodeError::Panicked(message)),
            None => Err(DecodeError::NotFound),
        }
    }

    /// Reads a picture given as 8-bit grey bytes, row by row (a camera frame's Y plane).
    pub fn decode_luma(
        &self,
        luma: Vec<u8>,
        width: u32,
        height: u32,
        effort: Effort,
        region: Option<Rect>,
    ) -> Result<Code, DecodeError> {
        if u64::from(width) * u64::from(height) != luma.len() as u64 {
            return Err(DecodeError::BadBuffer);
        }
        let image = GrayImage::from_raw(width, height, luma).ok_or(DecodeError::BadBuffer)?;
        self.decode(&image, effort, region)
    }

    fn run(&self, image: &GrayImage, strategy: Strategy, region: Option<Rect>) -> Option<Code> {
        match strategy {
            Strategy::Region => {
                let area = region?.grown(0.5, image.width(), image.height());
                if area.width < 21 || area.height < 21 {
                    return None;
                }
                let crop =
                    image::imageops::crop_imm(image, area.x, area.y, area.width, area.height)
                        .to_image();
                let mut code = zxing(&crop, false)?;
                code.bounds = code.bounds.map(|b| b.offset(area.x, area.y));
                code.strategy = Strategy::Region;
                Some(code)
            }
            Strategy::Quick => {
                let mut code = zxing(image, false)?;
                code.strategy = Strategy::Quick;
                Some(code)
            }
            Strategy::Zxing(Scale::Full) => zxing(image, true),
            Strategy::Zxing(scale) => {
                let (scaled, factor) = self.scaled(image, scale)?;
                let code = zxing(&scaled, true)?;
                Some(rescaled(code, factor, strategy))
            }
            Strategy::Rqrr(binarization, scale) => {
                let (scaled, factor) = self.scaled(image, scale)?;
                let code = rqrr_read(&scaled, binarization)?;
                Some(rescaled(code, factor, strategy))
            }
        }
    }

    /// The picture at `scale`, and the factor to multiply its coordinates by to get back;
    /// `None` where the scale makes no sense for this picture's size.
    fn scaled(&self, image: &GrayImage, scale: Scale) -> Option<(GrayImage, f32)> {
        let base = scale::fit(image, self.max_side);
        let base_factor = base
            .as_ref()
            .map_or(1.0, |b| image.width() as f32 / b.width().max(1) as f32);
        let base = base.unwrap_or_else(|| image.clone());
        match scale {
            Scale::Full => Some((base, base_factor)),
            Scale::Half if base.width().min(base.height()) >= 200 => {
                Some((scale::half(&base), base_factor * 2.0))
            }
            Scale::Double if base.width().max(base.height()) <= 800 => {
                Some((scale::double(&base), base_factor / 2.0))
            }
            _ => None,
        }
    }
}

/// A video frame: the quick strategies only.
const FRAME_PLAN: [Strategy; 2] = [
    Strategy::Zxing(Scale::Full),
    Strategy::Rqrr(Binarization::Native, Scale::Half),
];

/// A photo or page: everything, cheapest and likeliest first.
const THOROUGH_PLAN: [Strategy; 12] = [
    Strategy::Quick,
    Strategy::Zxing(Scale::Full),
    Strategy::Rqrr(Binarization::Native, Scale::Full),
    Strategy::Rqrr(Binarization::Adaptive, Scale::Full),
    Strategy::Rqrr(Binarization::Otsu, Scale::Full),
    Strategy::Zxing(Scale::Half),
    Strategy::Rqrr(Binarization::Native, Scale::Half),
    Strategy::Rqrr(Binarization::Adaptive, Scale::Half),
    Strategy::Rqrr(Binarization::Inverted, Scale::Full),
    Strategy::Zxing(Scale::Double),
    Strategy::Rqrr(Binarization::Native, Scale::Double),
    Strategy::Rqrr(Binarization::Adaptive, Scale::Double),
];

fn rescaled(mut code: Code, factor: f32, strategy: Strategy) -> Code {
    code.bounds = code.bounds.map(|b| Rect {
        x: (b.x as f32 * factor) as u32,
        y: (b.y as f32 * factor) as u32,
        width: (b.width as f32 * factor).ceil() as u32,
        height: (b.height as f32 * factor).ceil() as u32,
    });
    code.strategy = strategy;
    code
}

/// rxing's QR reader; `try_harder` also tries the picture inverted and rotated.
fn zxing(image: &GrayImage, try_harder: bool) -> Option<Code> {
    let (width, height) = image.dimensions();
    let mut hints = DecodeHints {
        TryHarder: Some(try_harder),
        AlsoInverted: Some(try_harder),
        ..DecodeHints::default()
    };
    let result = rxing::helpers::detect_in_luma_slice_with_hints(
        image.as_raw(),
        width,
        height,
        Some(BarcodeFormat::QR_CODE),
        &mut hints,
    )
    .ok()?;
    let points: Vec<(f32, f32)> = result.getPoints().iter().map(|p| (p.x, p.y)).collect();
    Some(Code {
        text: result.getText().to_owned(),
        bounds: Rect::around(&points, width, height),
        strategy: Strategy::Zxing(Scale::Full),
    })
}

/// rqrr after `binarization`: the first grid that decodes.
fn rqrr_read(image: &GrayImage, binarization: Binarization) -> Option<Code> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let raw = image.as_raw();
    let mut prepared = match binarization {
        Binarization::Native => {
            rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| raw[y * w + x])
        }
        Binarization::Inverted => {
            rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| 255 - raw[y * w + x])
        }
        Binarization::Otsu | Binarization::Adaptive => {
            let bw = if binarization == Binarization::Otsu {
                binarize::global(image, binarize::otsu_threshold(image))
            } else {
                // About an eighth of the picture: larger than a module, smaller than a shadow.
                let window = (image.width().min(image.height()) / 8).clamp(15, 201) | 1;
                binarize::adaptive(image, window, 4)
            };
            let raw = bw.as_raw();
            rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| raw[y * w + x] == 0)
        }
    };
    for grid in prepared.detect_grids() {
        let mut bytes = Vec::new();
        if grid.decode_to(&mut bytes).is_ok() {
            let points: Vec<(f32, f32)> = grid
                .bounds
                .iter()
                .map(|p| (p.x as f32, p.y as f32))
                .collect();
            return Some(Code {
                text: declared_text(&grid.grid).unwrap_or_else(|| charset::text(&bytes)),
                bounds: Rect::around(&points, image.width(), image.height()),
                strategy: Strategy::Rqrr(binarization, Scale::Full),
            });
        }
    }
    None
}

/// The text of a grid rqrr has found and read, in the character set its ECI segments declare.
/// rqrr's own decoding drops ECI designators (a code declaring ISO-8859-2 or Shift_JIS would read
/// as Latin-1 or by guess), so the grid's modules, as rqrr sampled them, go through rxing's
/// bit-stream decoder, which applies each ECI segment's set. `None` when rxing cannot parse what
/// rqrr could; the caller then falls back to recognising the bytes' set.
fn declared_text<G: rqrr::BitGrid>(grid: &G) -> Option<String> {
    let size = grid.size();
    let modules: Vec<Vec<bool>> = (0..size)
        .map(|y| (0..size).map(|x| grid.bit(y, x)).collect())
        .collect();
    let result = rxing::qrcode::decoder::qrcode_decoder::decode_bool_array(&modules).ok()?;
    Some(result.getText().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use qrcode::QrCode;

    /// A code drawn `module` pixels per module with a quiet zone, black on white.
    fn drawn(text: &str, module: u32) -> GrayImage {
        let code = QrCode::new(text.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        code.render::<image::Luma<u8>>()
            .module_dimensions(module, module)
            .build()
    }

    #[test]
    fn a_clean_code_reads_at_once() {
        let code = Decoder::default().decode(&drawn("URNA1:ABC", 4), Effort::Thorough, None);
        let code = code.unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(code.text, "URNA1:ABC");
        assert_eq!(code.strategy, Strategy::Quick);
        assert!(code.bounds.is_some());
    }

    /// A code whose byte segment follows an ECI designator naming `eci`'s character set.
    fn drawn_with_eci(eci: u32, bytes: &[u8], module: u32) -> GrayImage {
        use qrcode::bits::Bits;
        use qrcode::{EcLevel, Version};
        let mut bits = Bits::new(Version::Normal(3));
        let built = bits
            .push_eci_designator(eci)
            .and_then(|()| bits.push_byte_data(bytes))
            .and_then(|()| bits.push_terminator(EcLevel::M));
        built.unwrap_or_else(|e| unreachable!("{e}"));
        let code = QrCode::with_bits(bits, EcLevel::M).unwrap_or_else(|e| unreachable!("{e}"));
        code.render::<image::Luma<u8>>()
            .module_dimensions(module, module)
            .build()
    }

    #[test]
    fn rqrr_reads_honour_the_declared_character_set() {
        let polish = "Zażółć gęślą jaźń";
        for (eci, set) in [
            (4, encoding_rs::ISO_8859_2),
            (21, encoding_rs::WINDOWS_1250),
        ] {
            let (bytes, _, unmappable) = set.encode(polish);
            assert!(!unmappable);
            let image = drawn_with_eci(eci, &bytes, 4);
            // The rqrr strategy alone, since rxing's own reader applies ECI by itself.
            let code = rqrr_read(&image, Binarization::Native);
            assert_eq!(code.map(|c| c.text), Some(polish.to_owned()), "ECI {eci}");
            let whole = Decoder::default().decode(&image, Effort::Thorough, None);
            assert_eq!(whole.map(|c| c.text), Ok(polish.to_owned()), "ECI {eci}");
        }
    }

    #[test]
    fn rqrr_reads_without_eci_still_recognise_the_set() {
        let code = rqrr_read(&drawn("zwykły tekst", 4), Binarization::Native);
        assert_eq!(code.map(|c| c.text), Some("zwykły tekst".to_owned()));
    }

    #[test]
    fn a_light_on_dark_code_reads() {
        let inverted = binarize::invert(&drawn("odwrócony", 4));
        let code = Decoder::default().decode(&inverted, Effort::Thorough, None);
        assert_eq!(code.map(|c| c.text), Ok("odwrócony".to_owned()));
    }

    #[test]
    fn the_region_is_searched_first() {
        let mut page = GrayImage::from_pixel(800, 600, image::Luma([255]));
        image::imageops::overlay(&mut page, &drawn("tu", 3), 500, 300);
        let decoder = Decoder::default();
        let first = decoder
            .decode(&page, Effort::Frame, None)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let again = decoder.decode(&page, Effort::Frame, first.bounds);
        assert_eq!(again.map(|c| c.strategy), Ok(Strategy::Region));
    }

    #[test]
    fn blank_empty_and_oversized_pictures_are_refused_clearly() {
        let decoder = Decoder::default();
        let blank = GrayImage::from_pixel(100, 100, image::Luma([255]));
        assert_eq!(
            decoder.decode(&blank, Effort::Thorough, None),
            Err(DecodeError::NotFound)
        );
        assert_eq!(
            decoder.decode(&GrayImage::new(0, 5), Effort::Frame, None),
            Err(DecodeError::NoPixels)
        );
        let small_limits = Decoder {
            limits: ImageLimits {
                max_pixels: 99,
                ..ImageLimits::default()
            },
            ..Decoder::default()
        };
        assert_eq!(
            small_limits.decode(&blank, Effort::Frame, None),
            Err(DecodeError::TooLarge {
                width: 100,
                height: 100
            })
        );
        assert_eq!(
            decoder.decode_luma(vec![0; 10], 4, 4, Effort::Frame, None),
            Err(DecodeError::BadBuffer)
        );
    }

    #[test]
    fn a_region_off_the_picture_is_harmless() {
        let region = Rect {
            x: 5000,
            y: 5000,
            width: 100,
            height: 100,
        };
        let code = Decoder::default().decode(&drawn("x", 4), Effort::Frame, Some(region));
        assert_eq!(code.map(|c| c.text), Ok("x".to_owned()));
    }
}
