//! Grey pictures to black and white, in the ways that suit different photos: one threshold for
//! the whole picture (Otsu's, for evenly lit pages), a threshold that follows the local light
//! (for shadows, glare and phone screens), and inversion (for light codes on a dark ground).
//! Black is 0, white is 255, as everywhere in urna's rasters.

use image::GrayImage;

/// The threshold that best splits the picture's histogram into two classes (Otsu, 1979).
pub fn otsu_threshold(image: &GrayImage) -> u8 {
    let mut histogram = [0u64; 256];
    for p in image.as_raw() {
        histogram[usize::from(*p)] += 1;
    }
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return 128;
    }
    let sum_all: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * n as f64)
        .sum();
    let (mut weight_dark, mut sum_dark) = (0u64, 0f64);
    let (mut best, mut best_variance) = (128u8, -1f64);
    for (level, &count) in histogram.iter().enumerate() {
        weight_dark += count;
        if weight_dark == 0 {
            continue;
        }
        let weight_light = total - weight_dark;
        if weight_light == 0 {
            break;
        }
        sum_dark += level as f64 * count as f64;
        let mean_dark = sum_dark / weight_dark as f64;
        let mean_light = (sum_all - sum_dark) / weight_light as f64;
        let variance = weight_dark as f64 * weight_light as f64 * (mean_dark - mean_light).powi(2);
        if variance > best_variance {
            best_variance = variance;
            best = u8::try_from(level).unwrap_or(u8::MAX);
        }
    }
    best
}

/// Pixels at or below `threshold` become black, the rest white.
pub fn global(image: &GrayImage, threshold: u8) -> GrayImage {
    map(image, |p| p <= threshold)
}

/// Each pixel compared with the mean of the `window`-pixel square around it, less `offset`: a
/// pixel darker than its surroundings is black. A summed-area table makes it one pass whatever
/// the window.
pub fn adaptive(image: &GrayImage, window: u32, offset: i32) -> GrayImage {
    let (w, h) = image.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    let raw = image.as_raw();
    // One row and column of zeros in front, so every sum is four look-ups.
    let mut sums = vec![0u64; (wu + 1) * (hu + 1)];
    for y in 0..hu {
        let mut row = 0u64;
        for x in 0..wu {
            row += u64::from(raw[y * wu + x]);
            sums[(y + 1) * (wu + 1) + x + 1] = sums[y * (wu + 1) + x + 1] + row;
        }
    }
    let r = (window / 2).max(1) as usize;
    let mut out = GrayImage::new(w, h);
    let buf: &mut [u8] = &mut out;
    for y in 0..hu {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(hu));
        for x in 0..wu {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(wu));
            let area = ((y1 - y0) * (x1 - x0)) as u64;
            let sum = sums[y1 * (wu + 1) + x1] + sums[y0 * (wu + 1) + x0]
                - sums[y0 * (wu + 1) + x1]
                - sums[y1 * (wu + 1) + x0];
            let mean = (sum / area) as i32;
            let black = i32::from(raw[y * wu + x]) < mean - offset;
            buf[y * wu + x] = if black { 0 } else { 255 };
        }
    }
    out
}

/// Dark becomes light and light dark.
pub fn invert(image: &GrayImage) -> GrayImage {
    let mut out = image.clone();
    for p in out.iter_mut() {
        *p = 255 - *p;
    }
    out
}

fn map(image: &GrayImage, black: impl Fn(u8) -> bool) -> GrayImage {
    let mut out = image.clone();
    for p in out.iter_mut() {
        *p = if black(*p) { 0 } else { 255 };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn two_tone(dark: u8, light: u8) -> GrayImage {
        GrayImage::from_fn(40, 10, |x, _| Luma([if x < 20 { dark } else { light }]))
    }

    #[test]
    fn otsu_splits_two_tones_between_them() {
        let t = otsu_threshold(&two_tone(40, 200));
        assert!((40..200).contains(&t), "threshold {t}");
        let bw = global(&two_tone(40, 200), t);
        assert_eq!(bw.get_pixel(0, 0).0, [0]);
        assert_eq!(bw.get_pixel(39, 0).0, [255]);
    }

    #[test]
    fn adaptive_follows_a_gradient_that_defeats_one_threshold() {
        // A dark dot on a ground that brightens from left to right: the dot on the bright side
        // is lighter than the ground on the dark side.
        let image = GrayImage::from_fn(200, 20, |x, y| {
            let ground = 40 + x as u8;
            let dot = (x % 50 == 25) && (8..12).contains(&y);
            Luma([if dot { ground - 30 } else { ground }])
        });
        let bw = adaptive(&image, 15, 5);
        assert_eq!(bw.get_pixel(175, 10).0, [0], "the dot on the bright side");
        assert_eq!(bw.get_pixel(10, 10).0, [255], "the ground on the dark side");
    }

    #[test]
    fn invert_swaps_black_and_white() {
        let inverted = invert(&two_tone(0, 255));
        assert_eq!(inverted.get_pixel(0, 0).0, [255]);
        assert_eq!(inverted.get_pixel(39, 0).0, [0]);
    }

    #[test]
    fn empty_pictures_do_not_fail() {
        let empty = GrayImage::new(0, 0);
        assert_eq!(otsu_threshold(&empty), 128);
        assert_eq!(adaptive(&empty, 15, 5).dimensions(), (0, 0));
    }
}
