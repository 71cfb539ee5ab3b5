//! A V4L2 camera as a scanner: `[vision.v4l2]`, a USB webcam or document camera opened through
//! the kernel's video4linux2 interface (the `v4l` crate, with the `camera` cargo feature).
//!
//! The format is negotiated from the configured preference (GREY, then YUYV, then MJPEG by
//! default), frames are streamed through memory-mapped buffers, and each buffer becomes a grey
//! frame ([`pixels::to_frame`]) for the same frame loop as the Pi camera's
//! ([`camera::watch`]): steady rate, one scan per code shown, region of interest. A camera that
//! goes away (unplugged, or no frame for [`FRAME_TIMEOUT`]) is reported and opened again until
//! it is back.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::ConfigError;
use crate::devices::Input;
use crate::vision::camera::{self, Watch};
use crate::vision::frames::{FrameError, FrameSource};
use crate::vision::load::ImageLimits;
use crate::vision::pixels::PixelFormat;

/// No frame for this long and the camera counts as gone: a webcam that hangs on the USB bus
/// without disappearing is reopened like an unplugged one.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(3);

/// The `[vision.v4l2]` section of `station.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct V4l2Config {
    /// The camera's device: `/dev/video0`, or better its stable udev name under
    /// `/dev/v4l/by-id/` (the number of `/dev/videoN` may change when it is plugged in again).
    #[serde(default = "default_device")]
    pub device: PathBuf,
    /// Frame width asked for, in pixels; the camera may give the nearest size it has.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Frame height asked for, in pixels.
    #[serde(default = "default_height")]
    pub height: u32,
    /// Frames a second asked of the camera, and the most the loop reads: the bound on the CPU
    /// the camera takes.
    #[serde(default = "default_max_fps")]
    pub max_fps: u32,
    /// Pixel formats to ask for, first choice first (`grey`, `yuyv`, `mjpeg`).
    #[serde(default = "default_formats")]
    pub formats: Vec<PixelFormat>,
    /// How long a code must be out of sight before it counts as a new scan, in milliseconds.
    #[serde(default = "default_repeat_ms")]
    pub repeat_ms: u64,
}

fn default_device() -> PathBuf {
    PathBuf::from("/dev/video0")
}
fn default_width() -> u32 {
    1280
}
fn default_height() -> u32 {
    720
}
fn default_max_fps() -> u32 {
    10
}
fn default_formats() -> Vec<PixelFormat> {
    PixelFormat::PREFERENCE.to_vec()
}
fn default_repeat_ms() -> u64 {
    1500
}

/// What a station built without the feature says about `[vision.v4l2]`.
pub const NOT_BUILT_IN: &str = "this urna was built without V4L2 camera support (cargo feature \
     `camera`); build it with `--features camera`, or remove [vision.v4l2]";

impl V4l2Config {
    /// The defaults, for the camera at `device`.
    pub fn new(device: impl Into<PathBuf>) -> V4l2Config {
        V4l2Config {
            device: device.into(),
            width: default_width(),
            height: default_height(),
            max_fps: default_max_fps(),
            formats: default_formats(),
            repeat_ms: default_repeat_ms(),
        }
    }

    /// Checks ranges, naming the key that is wrong; without the `camera` feature, refuses the
    /// section with one error that names the feature.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problem = |key: &str, problem: &str| ConfigError {
            key: format!("vision.v4l2{key}"),
            problem: problem.to_owned(),
        };
        if !cfg!(feature = "camera") {
            return Err(problem("", NOT_BUILT_IN));
        }
        if self.device.as_os_str().is_empty() {
            return Err(problem(".device", "must name a device"));
        }
        if !(64..=4096).contains(&self.width) {
            return Err(problem(".width", "must be between 64 and 4096"));
        }
        if !(64..=4096).contains(&self.height) {
            return Err(problem(".height", "must be between 64 and 4096"));
        }
        if !(1..=60).contains(&self.max_fps) {
            return Err(problem(".max_fps", "must be between 1 and 60"));
        }
        if self.formats.is_empty() {
            return Err(problem(".formats", "must list at least one format"));
        }
        if self.repeat_ms > 60_000 {
            return Err(problem(".repeat_ms", "must be at most 60000"));
        }
        Ok(())
    }
}

impl Default for V4l2Config {
    fn default() -> V4l2Config {
        V4l2Config::new(default_device())
    }
}

/// Opens the camera and starts it streaming.
pub fn open(config: &V4l2Config, limits: ImageLimits) -> Result<Box<dyn FrameSource>, FrameError> {
    #[cfg(feature = "camera")]
    {
        Ok(Box::new(device::V4l2Source::open(config, limits)?))
    }
    #[cfg(not(feature = "camera"))]
    {
        let _ = (config, limits);
        Err(FrameError::Open(NOT_BUILT_IN.to_owned()))
    }
}

/// Checks that the camera opens, for `urna doctor`: what it is and the format it will be asked
/// for, or why not. Changes nothing on the camera, so a running station keeps it.
pub fn probe(config: &V4l2Config) -> Result<String, String> {
    #[cfg(feature = "camera")]
    {
        // The `v4l` crate unwraps on some driver answers (a card name that is not UTF-8).
        crate::vision::guard::run(|| device::probe(config))
            .map_err(|p| format!("its driver binding panicked: {}", p.0))?
            .map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "camera"))]
    {
        let _ = config;
        Err(NOT_BUILT_IN.to_owned())
    }
}

/// Reads the camera until `shutdown` resolves: each new code as [`Input::Scanned`], and each
/// time it goes away or comes back on `presence`.
pub async fn run(
    config: V4l2Config,
    inputs: mpsc::Sender<Input>,
    presence: mpsc::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let watch = Watch {
        name: format!("camera {}", config.device.display()),
        max_fps: config.max_fps,
        repeat: Duration::from_millis(config.repeat_ms),
        retry: Duration::from_secs(2),
    };
    let limits = ImageLimits::default();
    camera::run_watch(
        watch,
        move || open(&config, limits),
        inputs,
        presence,
        shutdown,
    )
    .await;
}

#[cfg(feature = "camera")]
mod device {
    use v4l::Capabilities;
    use v4l::buffer::{Flags as BufferFlags, Type};
    use v4l::capability::Flags;
    use v4l::io::mmap::Stream;
    use v4l::io::traits::CaptureStream;
    use v4l::video::Capture;
    use v4l::video::capture::Parameters;
    use v4l::{Device, Format, FourCC};

    use super::{FRAME_TIMEOUT, V4l2Config};
    use crate::vision::frames::{Frame, FrameError, FrameSource};
    use crate::vision::load::ImageLimits;
    use crate::vision::pixels::{self, Layout};

    /// This many unreadable buffers in a row end the session (and the camera is reopened):
    /// one corrupt MJPEG frame is skipped, a camera sending nothing usable is a fault.
    const BAD_FRAMES_IN_A_ROW: u32 = 30;

    /// Buffers the driver fills while the loop decodes: few, so a frame read is a fresh one.
    const BUFFERS: u32 = 3;

    /// The device opened, checked to be a streaming capture device, and the formats it offers.
    fn capture_device(
        config: &V4l2Config,
    ) -> Result<(Device, Capabilities, Vec<[u8; 4]>), FrameError> {
        let path = config.device.display();
        let open = |what: String| FrameError::Open(format!("{path}: {what}"));
        let device = Device::with_path(&config.device).map_err(|e| open(e.to_string()))?;
        let caps = device
            .query_caps()
            .map_err(|e| open(format!("not a V4L2 video device ({e})")))?;
        if !caps
            .capabilities
            .contains(Flags::VIDEO_CAPTURE | Flags::STREAMING)
        {
            return Err(open(format!(
                "{} ({}) cannot stream video capture (a metadata or output node? \
                 cameras often have two /dev/video nodes)",
                caps.card, caps.driver
            )));
        }
        let offered: Vec<[u8; 4]> = device
            .enum_formats()
            .map_err(|e| open(format!("cannot list its formats: {e}")))?
            .iter()
            .map(|d| d.fourcc.repr)
            .collect();
        Ok((device, caps, offered))
    }

    /// What the camera is and which format it would be asked for first, without changing its
    /// format or streaming: a running station may be using it.
    pub(super) fn probe(config: &V4l2Config) -> Result<String, FrameError> {
        let (_device, caps, offered) = capture_device(config)?;
        let has: Vec<String> = offered.iter().map(|c| pixels::fourcc_name(*c)).collect();
        match pixels::candidates(&config.formats, &offered).first() {
            Some((format, _)) => Ok(format!(
                "{} ({}) opens; offers {}; {format} will be asked for",
                caps.card,
                caps.driver,
                has.join(", ")
            )),
            None => Err(FrameError::Open(format!(
                "{}: {} ({}) offers none of the configured formats (it offers {})",
                config.device.display(),
                caps.card,
                caps.driver,
                has.join(", ")
            ))),
        }
    }

    /// A streaming V4L2 capture device.
    pub(super) struct V4l2Source {
        stream: Stream<'static>,
        layout: Layout,
        limits: ImageLimits,
        bad_in_a_row: u32,
    }

    impl std::fmt::Debug for V4l2Source {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("V4l2Source")
                .field("layout", &self.layout)
                .finish_non_exhaustive()
        }
    }

    impl V4l2Source {
        pub(super) fn open(
            config: &V4l2Config,
            limits: ImageLimits,
        ) -> Result<V4l2Source, FrameError> {
            let path = config.device.display();
            let open = |what: String| FrameError::Open(format!("{path}: {what}"));
            let (device, caps, offered) = capture_device(config)?;
            let mut chosen = None;
            for (format, code) in pixels::candidates(&config.formats, &offered) {
                let asked = Format::new(config.width, config.height, FourCC::new(&code));
                match device.set_format(&asked) {
                    Ok(got) if got.fourcc.repr == code => {
                        chosen = Some(Layout {
                            format,
                            width: got.width,
                            height: got.height,
                            stride: got.stride,
                        });
                        break;
                    }
                    Ok(got) => tracing::debug!(
                        "{path}: asked for {}, got {}",
                        pixels::fourcc_name(code),
                        pixels::fourcc_name(got.fourcc.repr)
                    ),
                    Err(e) => {
                        tracing::debug!("{path}: cannot set {}: {e}", pixels::fourcc_name(code));
                    }
                }
            }
            let Some(layout) = chosen else {
                let wanted: Vec<String> = config.formats.iter().map(|f| f.to_string()).collect();
                let has: Vec<String> = offered.iter().map(|c| pixels::fourcc_name(*c)).collect();
                return Err(open(format!(
                    "offers none of {} (it offers {})",
                    wanted.join(", "),
                    if has.is_empty() {
                        "nothing".to_owned()
                    } else {
                        has.join(", ")
                    }
                )));
            };
            // Not every driver lets the rate be set; the loop's own rate bounds the CPU anyway.
            if let Err(e) = device.set_params(&Parameters::with_fps(config.max_fps)) {
                tracing::debug!("{path}: cannot set {} frames a second: {e}", config.max_fps);
            }
            let mut stream = Stream::with_buffers(&device, Type::VideoCapture, BUFFERS)
                .map_err(|e| open(format!("cannot map its buffers: {e}")))?;
            stream.set_timeout(FRAME_TIMEOUT);
            tracing::info!(
                "{path}: {} ({}), {}×{} {}",
                caps.card,
                caps.driver,
                layout.width,
                layout.height,
                layout.format
            );
            Ok(V4l2Source {
                stream,
                layout,
                limits,
                bad_in_a_row: 0,
            })
        }
    }

    impl FrameSource for V4l2Source {
        fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
            loop {
                // An unplugged camera answers ENODEV here; a hung one times out.
                let (buffer, meta) = CaptureStream::next(&mut self.stream)?;
                // The buffer is as long as the largest frame; an MJPEG frame fills only part.
                let used = meta.bytesused as usize;
                let bytes = match buffer.get(..used) {
                    Some(part) if used > 0 => part,
                    _ => buffer,
                };
                let converted = if meta.flags.contains(BufferFlags::ERROR) {
                    Err("the driver marked the frame as damaged".to_owned())
                } else {
                    pixels::to_frame(&self.layout, bytes, &self.limits).map_err(|e| e.to_string())
                };
                match converted {
                    Ok(frame) => {
                        self.bad_in_a_row = 0;
                        return Ok(Some(frame));
                    }
                    Err(why) => {
                        self.bad_in_a_row += 1;
                        tracing::debug!("camera frame skipped: {why}");
                        if self.bad_in_a_row >= BAD_FRAMES_IN_A_ROW {
                            return Err(FrameError::Frames(format!(
                                "{BAD_FRAMES_IN_A_ROW} unreadable frames in a row; the last: {why}"
                            )));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_prefer_the_cheapest_format() {
        let config: V4l2Config = toml::from_str("").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(config, V4l2Config::default());
        assert_eq!(
            config.formats,
            vec![PixelFormat::Grey, PixelFormat::Yuyv, PixelFormat::Mjpeg]
        );
        let config: V4l2Config = toml::from_str(
            "device = \"/dev/v4l/by-id/usb-cam-video-index0\"\nformats = [\"mjpeg\"]\nmax_fps = 15",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(config.formats, vec![PixelFormat::Mjpeg]);
        assert!(toml::from_str::<V4l2Config>("formats = [\"rgb\"]").is_err());
    }

    #[cfg(not(feature = "camera"))]
    #[test]
    fn without_the_feature_the_section_is_one_clear_error() {
        let e = V4l2Config::default()
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("vision.v4l2") && e.contains("`camera`"), "{e}");
        let opened = open(&V4l2Config::default(), ImageLimits::default()).err();
        assert!(
            opened.is_some_and(|e| e.to_string().contains("cargo feature `camera`")),
            "without the feature, opening must say so"
        );
    }

    #[cfg(feature = "camera")]
    #[test]
    fn ranges_are_checked() {
        assert_eq!(V4l2Config::default().validate(), Ok(()));
        let bad = V4l2Config {
            formats: Vec::new(),
            ..V4l2Config::default()
        };
        assert_eq!(
            bad.validate().map_err(|e| e.key),
            Err("vision.v4l2.formats".to_owned())
        );
        let bad = V4l2Config {
            max_fps: 0,
            ..V4l2Config::default()
        };
        assert_eq!(
            bad.validate().map_err(|e| e.key),
            Err("vision.v4l2.max_fps".to_owned())
        );
    }

    #[cfg(feature = "camera")]
    fn open_error(path: &std::path::Path) -> String {
        match open(&V4l2Config::new(path), ImageLimits::default()) {
            Ok(_) => unreachable!("{} opened as a camera", path.display()),
            Err(e) => e.to_string(),
        }
    }

    #[cfg(feature = "camera")]
    #[test]
    fn a_missing_device_is_a_clear_error() {
        let e = open_error(std::path::Path::new("/dev/video-urna-test-missing"));
        assert!(
            e.contains("/dev/video-urna-test-missing") && e.contains("No such file"),
            "{e}"
        );
    }

    #[cfg(feature = "camera")]
    #[test]
    fn a_file_that_is_not_a_camera_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let file = dir.path().join("video0");
        std::fs::write(&file, b"not a camera").unwrap_or_else(|e| unreachable!("{e}"));
        let e = open_error(&file);
        assert!(e.contains("not a V4L2 video device"), "{e}");
        // A character device that is not a camera either.
        let e = open_error(std::path::Path::new("/dev/null"));
        assert!(e.contains("/dev/null: not a V4L2 video device"), "{e}");
        let probed = probe(&V4l2Config::new("/dev/null"));
        assert!(
            probed
                .as_ref()
                .is_err_and(|e| e.contains("not a V4L2 video device")),
            "{probed:?}"
        );
    }
}
