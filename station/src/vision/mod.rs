//! Reading QR codes from pictures: camera frames and scanned pages, decoded by urna itself.
//!
//! - [`load`] — image files (PNG, JPEG, WebP, TIFF) read with size limits checked before decoding;
//! - [`binarize`] — grey to black and white: global (Otsu), adaptive, inverted;
//! - [`scale`] — the scale pyramid: halving and doubling an image;
//! - [`charset`] — a code's bytes to text in the character set it was written in;
//! - [`guard`] — running a decoder so that its panic is an error, not a dead station;
//! - [`decode`] — the decoder: the strategies in order, early exit, region of interest;
//! - [`roi`] — where the last code was, so the next frame looks there first;
//! - [`frames`] — the camera loop: a frame source, a steady rate, one scan per code shown;
//! - [`yuv`] — the Pi camera's raw YUV 4:2:0 frames (rpicam-vid / libcamera-vid on stdout);
//! - [`v4l2`] — a USB webcam or document camera through video4linux2 (cargo feature `camera`);
//! - [`pixels`] — a V4L2 camera's GREY, YUYV and MJPEG buffers as grey frames;
//! - [`folder`] — the watched folder a document scanner drops pages into.
//!
//! Every source ends in [`crate::devices::Input::Scanned`], the path the serial scanner's codes
//! take: a code read from a picture is classified, limited and logged like any other scan.

pub mod binarize;
pub mod camera;
pub mod charset;
pub mod config;
pub mod decode;
pub mod folder;
pub mod frames;
pub mod guard;
pub mod load;
pub mod pixels;
pub mod roi;
pub mod scale;
pub mod v4l2;
pub mod yuv;

pub use decode::{Code, DecodeError, Decoder, Effort};
pub use load::{ImageLimits, LoadError, load_image};
