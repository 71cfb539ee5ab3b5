//! The camera loop: frames from a source, read at a steady rate with bounded CPU, one scan per
//! code shown. Runs on its own thread (decoding is CPU work, not async work), so the kiosk page
//! and the printer keep their cores: one core at most, and less when `max_fps` is reached,
//! since the loop sleeps out the rest of each frame's period.
//!
//! A code held in front of the camera is seen in frame after frame; it is one scan. The same
//! text is passed on again only after it has been out of sight for `repeat_ms` — a resident
//! who takes the phone away and shows it again has scanned twice, one who holds it still has not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::vision::decode::{Decoder, Effort};
use crate::vision::roi::RoiTracker;

/// One camera frame's luma (grey) plane, row by row, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height` bytes.
    pub luma: Vec<u8>,
}

/// Why a frame source stopped.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The device or program could not be opened or started.
    #[error("cannot open the camera: {0}")]
    Open(String),
    /// Reading failed.
    #[error("camera read failed: {0}")]
    Read(#[from] std::io::Error),
    /// The camera sends frames, but none can be turned into a picture.
    #[error("camera frames unreadable: {0}")]
    Frames(String),
}

/// Where frames come from: a V4L2 device, rpicam-vid's output, or a simulation in tests.
pub trait FrameSource: Send {
    /// Blocks until the next frame; `Ok(None)` when the source has ended.
    fn next_frame(&mut self) -> Result<Option<Frame>, FrameError>;
}

/// Passes a code on unless it is the one just seen, within the window.
#[derive(Debug, Clone)]
pub struct RepeatFilter {
    window: Duration,
    last: Option<(String, Instant)>,
}

impl RepeatFilter {
    /// A filter that takes a code again after it was out of sight for `window`.
    pub fn new(window: Duration) -> RepeatFilter {
        RepeatFilter { window, last: None }
    }

    /// Whether `text`, seen at `now`, is a new scan.
    pub fn accept(&mut self, text: &str, now: Instant) -> bool {
        let repeat = matches!(&self.last,
            Some((last, at)) if last == text && now.saturating_duration_since(*at) <= self.window);
        // Each sighting renews the window: a code held still stays one scan however long.
        self.last = Some((text.to_owned(), now));
        !repeat
    }
}

/// What the loop does with each frame: decode (looking first where the last code was), track
/// the region, filter repeats.
#[derive(Debug)]
pub struct FrameReader {
    decoder: Decoder,
    tracker: RoiTracker,
    repeats: RepeatFilter,
}

impl FrameReader {
    /// A reader that passes a code on again after `repeat` out of sight.
    pub fn new(decoder: Decoder, repeat: Duration) -> FrameReader {
        FrameReader {
            decoder,
            // About half a second at 15 frames a second: a code that moved out of the region
            // is soon searched for in the whole frame again.
            tracker: RoiTracker::new(8),
            repeats: RepeatFilter::new(repeat),
        }
    }

    /// The new scan in `frame`, if there is one.
    pub fn read(&mut self, frame: Frame, now: Instant) -> Option<String> {
        let region = self.tracker.region();
        match self
            .decoder
            .decode_luma(frame.luma, frame.width, frame.height, Effort::Frame, region)
        {
            Ok(code) => {
                match code.bounds {
                    Some(bounds) => self.tracker.found(bounds),
                    None => self.tracker.missed(),
                }
                self.repeats.accept(&code.text, now).then_some(code.text)
            }
            Err(_) => {
                self.tracker.missed();
                None
            }
        }
    }
}

/// Reads frames until the source ends or `stop` is set, at most `max_fps` a second, handing
/// each new scan to `emit`; stops early when `emit` returns false (nobody listens any more).
pub fn run_loop(
    source: &mut dyn FrameSource,
    reader: &mut FrameReader,
    max_fps: u32,
    stop: &AtomicBool,
    mut emit: impl FnMut(String) -> bool,
) -> Result<(), FrameError> {
    let period = Duration::from_secs(1) / max_fps.max(1);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let Some(frame) = source.next_frame()? else {
            return Ok(());
        };
        if let Some(text) = reader.read(frame, Instant::now())
            && !emit(text)
        {
            return Ok(());
        }
        if let Some(rest) = period.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    Ok(())
}

/// A flag the loop's thread watches, set when the station shuts down.
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_held_still_is_one_scan_and_shown_again_later_is_two() {
        let mut f = RepeatFilter::new(Duration::from_millis(500));
        let t0 = Instant::now();
        assert!(f.accept("A", t0));
        for i in 1..20 {
            assert!(
                !f.accept("A", t0 + Duration::from_millis(100 * i)),
                "frame {i}"
            );
        }
        assert!(f.accept("A", t0 + Duration::from_millis(2700)));
        assert!(f.accept("B", t0 + Duration::from_millis(2800)));
        assert!(f.accept("A", t0 + Duration::from_millis(2900)));
    }
}
