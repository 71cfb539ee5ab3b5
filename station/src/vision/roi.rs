//! Region-of-interest tracking across video frames: a code held in front of the camera stays
//! roughly where it was, so the next frame is searched there first, in a crop a fraction of the
//! frame's size, and the whole frame only when the crop shows nothing.

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    /// The smallest rectangle holding every point, clipped to a `width`×`height` picture;
    /// `None` for no points or an empty result.
    pub fn around(points: &[(f32, f32)], width: u32, height: u32) -> Option<Rect> {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for &(x, y) in points {
            if !x.is_finite() || !y.is_finite() {
                continue;
            }
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            return None;
        }
        let clip = |v: f32, max: u32| v.clamp(0.0, max as f32) as u32;
        let (left, top) = (clip(x0, width), clip(y0, height));
        let (right, bottom) = (clip(x1.ceil(), width), clip(y1.ceil(), height));
        (right > left && bottom > top).then_some(Rect {
            x: left,
            y: top,
            width: right - left,
            height: bottom - top,
        })
    }

    /// The rectangle grown by `margin` times its larger side on every side (room for the code
    /// to move and for its quiet zone), clipped to a `width`×`height` picture.
    pub fn grown(self, margin: f32, width: u32, height: u32) -> Rect {
        let pad = (self.width.max(self.height) as f32 * margin) as u32;
        let x = self.x.saturating_sub(pad);
        let y = self.y.saturating_sub(pad);
        let right = self
            .x
            .saturating_add(self.width)
            .saturating_add(pad)
            .min(width);
        let bottom = self
            .y
            .saturating_add(self.height)
            .saturating_add(pad)
            .min(height);
        Rect {
            x,
            y,
            width: right.saturating_sub(x),
            height: bottom.saturating_sub(y),
        }
    }

    /// The rectangle moved by (`dx`, `dy`).
    pub fn offset(self, dx: u32, dy: u32) -> Rect {
        Rect {
            x: self.x + dx,
            y: self.y + dy,
            ..self
        }
    }
}

/// Remembers where the last code was, and forgets it after some frames without one.
#[derive(Debug, Clone)]
pub struct RoiTracker {
    last: Option<Rect>,
    misses: u32,
    forget_after: u32,
}

impl RoiTracker {
    /// A tracker that forgets a region after `forget_after` frames in a row without a code.
    pub fn new(forget_after: u32) -> RoiTracker {
        RoiTracker {
            last: None,
            misses: 0,
            forget_after,
        }
    }

    /// Where to look first in the next frame.
    pub fn region(&self) -> Option<Rect> {
        self.last
    }

    /// A code was found at `bounds`.
    pub fn found(&mut self, bounds: Rect) {
        self.last = Some(bounds);
        self.misses = 0;
    }

    /// A frame showed no code.
    pub fn missed(&mut self) {
        self.misses += 1;
        if self.misses >= self.forget_after {
            self.last = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn around_and_grown_stay_inside_the_picture() {
        let r = Rect::around(&[(10.0, 20.0), (50.5, 60.0), (f32::NAN, 0.0)], 100, 100);
        assert_eq!(
            r,
            Some(Rect {
                x: 10,
                y: 20,
                width: 41,
                height: 40
            })
        );
        let grown = r.map(|r| r.grown(0.5, 70, 100));
        assert_eq!(
            grown,
            Some(Rect {
                x: 0,
                y: 0,
                width: 70,
                height: 80
            })
        );
        assert_eq!(Rect::around(&[], 10, 10), None);
    }

    #[test]
    fn the_tracker_forgets_after_misses() {
        let mut t = RoiTracker::new(2);
        let r = Rect {
            x: 1,
            y: 2,
            width: 3,
            height: 4,
        };
        t.found(r);
        t.missed();
        assert_eq!(t.region(), Some(r));
        t.missed();
        assert_eq!(t.region(), None);
    }
}
