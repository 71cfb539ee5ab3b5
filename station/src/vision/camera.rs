//! The camera as a scanner: `[vision.camera]`, the Pi camera through rpicam-vid's raw frames,
//! read by [`frames::run_loop`] on a thread of its
//! own, each new code sent as [`Input::Scanned`]. When the camera program ends or fails, it is
//! started again after a pause: a camera cable reseated comes back without a restart.
//! [`watch`] is that loop for every kind of camera; the V4L2 camera ([`super::v4l2`]) uses it too.

use std::future::Future;
use std::io::Read;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::ConfigError;
use crate::devices::Input;
use crate::vision::decode::Decoder;
use crate::vision::frames::{self, Frame, FrameError, FrameReader, FrameSource};
use crate::vision::guard;
use crate::vision::yuv::YuvReader;

/// Which camera.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CameraKind {
    /// The Pi camera, through `rpicam-vid --codec yuv420 -o -` (or `libcamera-vid`).
    #[default]
    Rpicam,
}

/// The `[vision.camera]` section of `station.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Which camera.
    #[serde(default)]
    pub kind: CameraKind,
    /// The program for the Pi camera (`rpicam-vid`; `libcamera-vid` on older systems).
    #[serde(default = "default_device")]
    pub device: String,
    /// Frame width in pixels.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Frame height in pixels.
    #[serde(default = "default_height")]
    pub height: u32,
    /// Most frames read a second: the bound on the CPU the camera takes.
    #[serde(default = "default_max_fps")]
    pub max_fps: u32,
    /// How long a code must be out of sight before it counts as a new scan, in milliseconds.
    #[serde(default = "default_repeat_ms")]
    pub repeat_ms: u64,
}

fn default_device() -> String {
    "rpicam-vid".to_owned()
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
fn default_repeat_ms() -> u64 {
    1500
}

impl CameraConfig {
    /// The defaults: the Pi camera at 1280×720, ten frames a second.
    pub fn new() -> CameraConfig {
        CameraConfig {
            kind: CameraKind::Rpicam,
            device: default_device(),
            width: default_width(),
            height: default_height(),
            max_fps: default_max_fps(),
            repeat_ms: default_repeat_ms(),
        }
    }

    /// Checks ranges, naming the key that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problem = |key: &str, problem: &str| ConfigError {
            key: format!("vision.camera.{key}"),
            problem: problem.to_owned(),
        };
        if !(64..=4096).contains(&self.width) {
            return Err(problem("width", "must be between 64 and 4096"));
        }
        if !(64..=4096).contains(&self.height) {
            return Err(problem("height", "must be between 64 and 4096"));
        }
        if !(1..=60).contains(&self.max_fps) {
            return Err(problem("max_fps", "must be between 1 and 60"));
        }
        if self.repeat_ms > 60_000 {
            return Err(problem("repeat_ms", "must be at most 60000"));
        }
        Ok(())
    }
}

impl Default for CameraConfig {
    fn default() -> CameraConfig {
        CameraConfig::new()
    }
}

/// The Pi camera: rpicam-vid writing raw YUV 4:2:0 frames to a pipe.
#[derive(Debug)]
pub struct RpicamSource {
    child: Child,
    stdout: ChildStdout,
    reader: YuvReader,
    chunk: Vec<u8>,
}

impl RpicamSource {
    /// Starts `program` for frames of `width`×`height` at `fps` a second.
    pub fn start(
        program: &str,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<RpicamSource, FrameError> {
        let mut child = Command::new(program)
            .args([
                "--nopreview",
                "--timeout",
                "0",
                "--codec",
                "yuv420",
                "--output",
                "-",
            ])
            .args([
                "--width",
                &width.to_string(),
                "--height",
                &height.to_string(),
            ])
            .args(["--framerate", &fps.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| FrameError::Open(format!("{program}: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| FrameError::Open(format!("{program}: no output pipe")))?;
        Ok(RpicamSource {
            child,
            stdout,
            reader: YuvReader::new(width, height),
            chunk: vec![0; 64 * 1024],
        })
    }
}

impl FrameSource for RpicamSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        frames_from_reader(&mut self.stdout, &mut self.reader, &mut self.chunk)
    }
}

impl Drop for RpicamSource {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The next whole frame from a byte stream; `None` at its end.
pub fn frames_from_reader(
    input: &mut dyn Read,
    reader: &mut YuvReader,
    chunk: &mut [u8],
) -> Result<Option<Frame>, FrameError> {
    loop {
        // Never read past the frame: the rest of the pipe stays in the pipe, so a slow loop
        // makes the camera program wait instead of buffering stale frames here.
        let want = (reader.frame_len() - reader.buffered()).min(chunk.len());
        let n = input.read(&mut chunk[..want])?;
        if n == 0 {
            return Ok(None);
        }
        if let (_, Some(frame)) = reader.push(&chunk[..n]) {
            return Ok(Some(frame));
        }
    }
}

/// Opens the configured camera.
fn open(config: &CameraConfig) -> Result<Box<dyn FrameSource>, FrameError> {
    match config.kind {
        CameraKind::Rpicam => Ok(Box::new(RpicamSource::start(
            &config.device,
            config.width,
            config.height,
            config.max_fps,
        )?)),
    }
}

/// Reads the camera until `shutdown` resolves: each new code as [`Input::Scanned`], and each
/// time it goes away or comes back on `presence`.
pub async fn run(
    config: CameraConfig,
    inputs: mpsc::Sender<Input>,
    presence: mpsc::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let watch = Watch {
        name: format!("camera {}", config.device),
        max_fps: config.max_fps,
        repeat: Duration::from_millis(config.repeat_ms),
        retry: Duration::from_secs(2),
    };
    run_watch(watch, move || open(&config), inputs, presence, shutdown).await;
}

/// How a camera is watched: the same for every kind of camera.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The camera, as the log names it.
    pub name: String,
    /// Most frames read a second.
    pub max_fps: u32,
    /// How long a code must be out of sight before it counts as a new scan.
    pub repeat: Duration,
    /// The pause before opening the camera again after it failed or ended.
    pub retry: Duration,
}

/// Runs [`watch`] on a thread of its own (decoding is CPU work) until `shutdown` resolves.
pub async fn run_watch(
    watch: Watch,
    open: impl FnMut() -> Result<Box<dyn FrameSource>, FrameError> + Send + 'static,
    inputs: mpsc::Sender<Input>,
    presence: mpsc::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let stop = frames::stop_flag();
    let thread_stop = Arc::clone(&stop);
    let worker = tokio::task::spawn_blocking(move || {
        self::watch(&watch, open, &inputs, &presence, &thread_stop);
    });
    shutdown.await;
    stop.store(true, Ordering::Relaxed);
    let _ = worker.await;
}

/// Opens the camera with `open` and reads it with [`frames::run_loop`], again and again until
/// `stop` is set or nobody listens: a camera that fails, ends or is unplugged is opened again
/// after `watch.retry`. Blocks; each new code goes to `inputs`.
///
/// `presence` hears `false` when the camera goes away and `true` when it delivers a frame
/// again: only changes, starting from "there" (as the workflow assumes of its scanner), so a
/// camera missing for a day is one fault, not one per retry. A camera counts as back only once
/// a frame arrives: a camera program that starts and dies at once is still away.
///
/// Every session runs under [`guard::run`]: a device binding that panics (the `v4l` crate
/// unwraps on odd driver answers) costs a session, never the station.
pub fn watch(
    watch: &Watch,
    mut open: impl FnMut() -> Result<Box<dyn FrameSource>, FrameError>,
    inputs: &mpsc::Sender<Input>,
    presence: &mpsc::Sender<bool>,
    stop: &AtomicBool,
) {
    let mut reader = FrameReader::new(Decoder::default(), watch.repeat);
    let mut present = true;
    while !stop.load(Ordering::Relaxed) {
        let session = guard::run(|| {
            let mut source = open()?;
            let mut announce = || {
                if !present {
                    tracing::info!("{}: delivering frames again", watch.name);
                    present = true;
                    let _ = presence.blocking_send(true);
                }
            };
            let mut announcing = Announcing {
                source: source.as_mut(),
                first: Some(&mut announce),
            };
            frames::run_loop(&mut announcing, &mut reader, watch.max_fps, stop, |text| {
                inputs.blocking_send(Input::Scanned(text)).is_ok()
            })
        });
        if inputs.is_closed() || stop.load(Ordering::Relaxed) {
            return;
        }
        let why = match session {
            Ok(Ok(())) => "stopped delivering frames".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(guard::Panicked(message)) => format!("its driver binding panicked: {message}"),
        };
        if present {
            tracing::warn!("{}: {why}; retrying", watch.name);
            present = false;
            let _ = presence.blocking_send(false);
        } else {
            tracing::debug!("{}: {why}", watch.name);
        }
        // Short steps, so that shutdown does not wait out the whole pause.
        let until = Instant::now() + watch.retry;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(watch.retry.min(Duration::from_millis(100)));
        }
    }
}

/// A source that calls `first` when it delivers its first frame.
struct Announcing<'a> {
    source: &'a mut dyn FrameSource,
    first: Option<&'a mut (dyn FnMut() + Send)>,
}

impl FrameSource for Announcing<'_> {
    fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let frame = self.source.next_frame()?;
        if frame.is_some()
            && let Some(first) = self.first.take()
        {
            first();
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A camera that, opened, gives its frames and ends.
    struct Frames(VecDeque<Frame>);

    impl FrameSource for Frames {
        fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
            Ok(self.0.pop_front())
        }
    }

    fn code_frame(text: &str) -> Frame {
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        let image = code
            .render::<image::Luma<u8>>()
            .module_dimensions(4, 4)
            .build();
        Frame {
            width: image.width(),
            height: image.height(),
            luma: image.into_raw(),
        }
    }

    #[test]
    #[allow(clippy::panic)]
    fn a_camera_that_goes_away_is_reported_once_and_opened_again() {
        let (inputs, mut scans) = mpsc::channel(16);
        let (presence, mut changes) = mpsc::channel(16);
        let stop = AtomicBool::new(false);
        let mut opened = 0;
        let open = || -> Result<Box<dyn FrameSource>, FrameError> {
            opened += 1;
            match opened {
                // Unplugged for three tries, its binding panicking on one of them.
                1 | 2 => Err(FrameError::Open("/dev/video0: No such device".to_owned())),
                3 => panic!("invalid colorspace"),
                // Back: a code shown for two frames, then the camera ends.
                4 => Ok(Box::new(Frames(VecDeque::from([
                    code_frame("A"),
                    code_frame("A"),
                ])))),
                _ => {
                    stop.store(true, Ordering::Relaxed);
                    Err(FrameError::Open("gone again".to_owned()))
                }
            }
        };
        let settings = Watch {
            name: "test camera".to_owned(),
            max_fps: 60,
            repeat: Duration::from_millis(500),
            retry: Duration::from_millis(1),
        };
        watch(&settings, open, &inputs, &presence, &stop);
        drop((inputs, presence));
        let mut said = Vec::new();
        while let Ok(present) = changes.try_recv() {
            said.push(present);
        }
        // Away (once for three failed opens), back, away again when it ended.
        assert_eq!(said, vec![false, true, false]);
        let mut codes = Vec::new();
        while let Ok(Input::Scanned(text)) = scans.try_recv() {
            codes.push(text);
        }
        assert_eq!(codes, vec!["A".to_owned()]);
    }
}
