//! The camera as a scanner: `[vision.camera]`, the Pi camera through rpicam-vid's raw frames,
//! read by [`frames::run_loop`] on a thread of its
//! own, each new code sent as [`Input::Scanned`]. When the camera program ends or fails, it is
//! started again after a pause: a camera cable reseated comes back without a restart.

use std::future::Future;
use std::io::Read;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::ConfigError;
use crate::devices::Input;
use crate::vision::decode::Decoder;
use crate::vision::frames::{self, Frame, FrameError, FrameReader, FrameSource};
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

/// Reads the camera until `shutdown` resolves, sending each new code as [`Input::Scanned`].
pub async fn run(
    config: CameraConfig,
    inputs: mpsc::Sender<Input>,
    shutdown: impl Future<Output = ()>,
) {
    let stop = frames::stop_flag();
    let thread_stop = Arc::clone(&stop);
    let worker = tokio::task::spawn_blocking(move || {
        let mut reader =
            FrameReader::new(Decoder::default(), Duration::from_millis(config.repeat_ms));
        let mut failing = false;
        while !thread_stop.load(Ordering::Relaxed) {
            let outcome = open(&config).and_then(|mut source| {
                if failing {
                    tracing::info!("camera is delivering frames again");
                    failing = false;
                }
                frames::run_loop(
                    source.as_mut(),
                    &mut reader,
                    config.max_fps,
                    &thread_stop,
                    |text| inputs.blocking_send(Input::Scanned(text)).is_ok(),
                )
            });
            if inputs.is_closed() {
                return;
            }
            if let Err(e) = outcome
                && !failing
            {
                tracing::warn!("camera: {e}");
                failing = true;
            }
            // Whether it failed or its program ended, try again shortly.
            std::thread::sleep(Duration::from_secs(2));
        }
    });
    shutdown.await;
    stop.store(true, Ordering::Relaxed);
    let _ = worker.await;
}
