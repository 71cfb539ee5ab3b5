//! The scale pyramid: a photo whose code is many pixels per module decodes faster and often
//! better at half size; a small, distant code decodes better doubled.

use image::GrayImage;

/// Half the size, each pixel the mean of a 2×2 block (a box filter, which also smooths noise).
pub fn half(image: &GrayImage) -> GrayImage {
    let (w, h) = (image.width() / 2, image.height() / 2);
    GrayImage::from_fn(w, h, |x, y| {
        let sum: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
            .iter()
            .map(|(dx, dy)| u32::from(image.get_pixel(2 * x + dx, 2 * y + dy).0[0]))
            .sum();
        image::Luma([(sum / 4) as u8])
    })
}

/// Twice the size, bilinear, so that module edges stay where they were.
pub fn double(image: &GrayImage) -> GrayImage {
    image::imageops::resize(
        image,
        image.width() * 2,
        image.height() * 2,
        image::imageops::FilterType::Triangle,
    )
}

/// `image` halved until its longer side is at most `max_side`.
pub fn fit(image: &GrayImage, max_side: u32) -> Option<GrayImage> {
    let mut current: Option<GrayImage> = None;
    loop {
        let view = current.as_ref().unwrap_or(image);
        if view.width().max(view.height()) <= max_side || view.width() < 2 || view.height() < 2 {
            return current;
        }
        current = Some(half(view));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_averages_blocks() {
        let image = GrayImage::from_fn(4, 2, |x, _| image::Luma([if x < 2 { 0 } else { 200 }]));
        let small = half(&image);
        assert_eq!(small.dimensions(), (2, 1));
        assert_eq!(small.as_raw(), &vec![0, 200]);
    }

    #[test]
    fn fit_halves_until_small_enough() {
        let image = GrayImage::new(1000, 300);
        assert_eq!(fit(&image, 300).map(|i| i.dimensions()), Some((250, 75)));
        assert!(fit(&image, 1000).is_none());
        assert_eq!(double(&GrayImage::new(3, 2)).dimensions(), (6, 4));
    }
}
