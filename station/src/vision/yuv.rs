//! The Pi camera's frames as `rpicam-vid` (formerly `libcamera-vid`) writes them with
//! `--codec yuv420 -o -`: raw planar YUV 4:2:0 (I420), one frame after another with no header —
//! the luma plane, `width` × `height` bytes, then the two chroma planes, each half the width and
//! half the height, rounded up. Only luma is needed to read a code.
//!
//! Shaped like the serial scanner's decoder: bytes arrive in chunks of any size; each call
//! answers "need more" or "here is a frame", and memory stays within one frame.

use crate::vision::frames::Frame;

/// Splits a raw I420 byte stream into frames of a known size.
#[derive(Debug)]
pub struct YuvReader {
    width: u32,
    height: u32,
    frame_len: usize,
    buffer: Vec<u8>,
}

impl YuvReader {
    /// A reader for `width` × `height` frames (as given to rpicam-vid's `--width`/`--height`).
    pub fn new(width: u32, height: u32) -> YuvReader {
        let luma = width as usize * height as usize;
        let chroma = width.div_ceil(2) as usize * height.div_ceil(2) as usize;
        let frame_len = luma + 2 * chroma;
        YuvReader {
            width,
            height,
            frame_len,
            buffer: Vec::with_capacity(frame_len),
        }
    }

    /// Bytes in one frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Takes bytes from `input`; returns how many it used and, when a frame is complete, the
    /// frame. Call again with the rest of `input` until it returns no frame and uses it all.
    pub fn push(&mut self, input: &[u8]) -> (usize, Option<Frame>) {
        let want = self.frame_len - self.buffer.len();
        let used = want.min(input.len());
        self.buffer.extend_from_slice(&input[..used]);
        if self.buffer.len() < self.frame_len || self.frame_len == 0 {
            return (used, None);
        }
        let luma_len = self.width as usize * self.height as usize;
        let mut luma = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.frame_len));
        luma.truncate(luma_len);
        (
            used,
            Some(Frame {
                width: self.width,
                height: self.height,
                luma,
            }),
        )
    }

    /// Bytes of a frame received so far.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two 5×3 frames written by hand: luma counts up, chroma (3×2 each) is 128.
    fn stream() -> Vec<u8> {
        let mut bytes = Vec::new();
        for frame in 0..2u8 {
            bytes.extend((0..15u8).map(|i| frame * 100 + i));
            bytes.extend([128u8; 12]);
        }
        bytes
    }

    fn frames(chunk: usize) -> Vec<Frame> {
        let mut reader = YuvReader::new(5, 3);
        let mut out = Vec::new();
        for mut piece in stream().chunks(chunk) {
            loop {
                let (used, frame) = reader.push(piece);
                piece = &piece[used..];
                out.extend(frame);
                if piece.is_empty() {
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        assert_eq!(YuvReader::new(5, 3).frame_len(), 15 + 2 * 6);
        assert_eq!(YuvReader::new(1280, 720).frame_len(), 1280 * 720 * 3 / 2);
    }

    #[test]
    fn frames_come_out_whole_whatever_the_chunks() {
        for chunk in [1, 2, 7, 27, 28, 1000] {
            let got = frames(chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}");
            assert_eq!(got[0].luma, (0..15).collect::<Vec<u8>>());
            assert_eq!(got[1].luma[0], 100);
            assert_eq!((got[1].width, got[1].height), (5, 3));
        }
    }

    #[test]
    fn a_partial_frame_waits() {
        let mut reader = YuvReader::new(5, 3);
        let (used, frame) = reader.push(&[0; 20]);
        assert_eq!((used, frame.is_none(), reader.buffered()), (20, true, 20));
    }
}
