//! The `[vision]` section of `station.toml`: where pictures to read codes from come from.
//!
//! ```toml
//! [vision.folder]
//! path = "/srv/urna/scans"   # the document scanner's output folder
//! poll_ms = 1000
//!
//! [vision.camera]
//! kind = "rpicam"
//! device = "rpicam-vid"      # or libcamera-vid on older systems
//! width = 1280
//! height = 720
//! max_fps = 10
//! repeat_ms = 1500
//!
//! [vision.v4l2]              # a USB webcam or document camera (cargo feature `camera`)
//! device = "/dev/v4l/by-id/usb-046d_C270_HD_WEBCAM-video-index0"
//! width = 1280
//! height = 720
//! max_fps = 10
//! formats = ["grey", "yuyv", "mjpeg"]
//! ```

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::vision::camera::CameraConfig;
use crate::vision::folder::FolderConfig;
use crate::vision::v4l2::V4l2Config;

/// Image sources; each is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VisionConfig {
    /// A folder a document scanner drops page images into.
    #[serde(default)]
    pub folder: Option<FolderConfig>,
    /// A camera the resident shows a code to.
    #[serde(default)]
    pub camera: Option<CameraConfig>,
    /// A USB webcam or document camera (video4linux2), in a station built with the `camera`
    /// feature.
    #[serde(default)]
    pub v4l2: Option<V4l2Config>,
}

impl VisionConfig {
    /// Checks every source's keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(folder) = &self.folder {
            folder.validate()?;
        }
        if let Some(camera) = &self.camera {
            camera.validate()?;
        }
        if let Some(v4l2) = &self.v4l2 {
            v4l2.validate()?;
        }
        Ok(())
    }
}
