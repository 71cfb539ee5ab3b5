//! The simulated printer: each job becomes a PNG file in a folder, and it can be told to fail.
//!
//! The demo's control page lists what was printed and shows the PNGs; tests read them back and
//! decode their codes. Numbering carries on across restarts (it is read back from the file
//! names), so a second demo run still lists the labels of the first.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use image::ImageFormat;
use records::{IntakeId, LabelKind};
use serde::Serialize;

use super::{PrintJob, Printer, PrinterStatus};

/// One item the simulated printer printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrintedLabel {
    /// Counts up from 1 across restarts; the newest has the highest number.
    pub number: u64,
    /// What was printed.
    pub label: LabelKind,
    /// The intake it is for.
    pub intake: IntakeId,
    /// The PNG's file name in the printer's folder (no directory).
    pub file: String,
    /// When it was printed (for files from an earlier run: the file's modification time),
    /// unix milliseconds.
    pub printed_ms: i64,
    /// What its QR code says, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_text: Option<String>,
}

/// The file beside a PNG that keeps its QR code's text across restarts.
fn qr_text_file(png: &str) -> String {
    format!("{png}.qr.txt")
}

#[derive(Debug)]
struct State {
    status: PrinterStatus,
    /// Oldest first.
    printed: Vec<PrintedLabel>,
}

/// A printer that writes PNG files to a folder. Starts ready.
#[derive(Debug)]
pub struct SimPrinter {
    dir: PathBuf,
    state: Mutex<State>,
    /// Held for a whole job, so jobs are numbered and written one at a time.
    printing: Mutex<()>,
}

fn kind_name(kind: LabelKind) -> &'static str {
    match kind {
        LabelKind::Envelope => "envelope",
        LabelKind::Receipt => "receipt",
        LabelKind::Bin => "bin",
    }
}

/// Reads `000017-GW7K-2223-5-receipt.png` back into its number, intake and kind.
fn parse_file_name(name: &str) -> Option<(u64, IntakeId, LabelKind)> {
    let stem = name.strip_suffix(".png")?;
    let (number, rest) = stem.split_once('-')?;
    let (intake, kind) = rest.rsplit_once('-')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = match kind {
        "envelope" => LabelKind::Envelope,
        "receipt" => LabelKind::Receipt,
        "bin" => LabelKind::Bin,
        _ => return None,
    };
    Some((number.parse().ok()?, intake.parse().ok()?, kind))
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl SimPrinter {
    /// A printer writing into `dir` (created if missing), listing the labels already there.
    pub fn new(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        let mut printed = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Some((number, intake, label)) = parse_file_name(&name) else {
                continue;
            };
            let printed_ms = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(unix_ms)
                .unwrap_or(0);
            let qr_text = fs::read_to_string(dir.join(qr_text_file(&name))).ok();
            printed.push(PrintedLabel {
                number,
                label,
                intake,
                file: name,
                printed_ms,
                qr_text,
            });
        }
        printed.sort_by_key(|p| p.number);
        Ok(SimPrinter {
            dir,
            state: Mutex::new(State {
                status: PrinterStatus::Ready,
                printed,
            }),
            printing: Mutex::new(()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state whole (every change is one push or
        // one assignment), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the printer report `status` and, unless it is `Ready`, refuse to print.
    pub fn set_status(&self, status: PrinterStatus) {
        self.state().status = status;
    }

    /// Everything printed, this run and earlier ones, newest first.
    pub fn printed(&self) -> Vec<PrintedLabel> {
        self.state().printed.iter().rev().cloned().collect()
    }

    /// The path of a PNG this printer printed, by its file name; `None` for any other name, so
    /// a name from a web request can never reach outside the folder.
    pub fn png_path(&self, file_name: &str) -> Option<PathBuf> {
        self.state()
            .printed
            .iter()
            .any(|p| p.file == file_name)
            .then(|| self.dir.join(file_name))
    }
}

impl Printer for SimPrinter {
    fn status(&self) -> PrinterStatus {
        self.state().status
    }

    fn print(&self, job: &PrintJob) -> Result<(), PrinterStatus> {
        // Jobs go one at a time (numbers and files in order), but the state lock is not held
        // while files are written: the control page reads it from async handlers.
        let _one_job_at_a_time = self.printing.lock().unwrap_or_else(|e| e.into_inner());
        let number = {
            let state = self.state();
            if !state.status.can_print() {
                return Err(state.status);
            }
            state.printed.last().map_or(1, |p| p.number + 1)
        };
        let file = format!("{number:06}-{}-{}.png", job.intake, kind_name(job.label));
        let path = self.dir.join(&file);
        if let Err(e) = job.image.save_with_format(&path, ImageFormat::Png) {
            // A simulated printer that cannot write its output is, to the workflow, one that
            // does not answer.
            tracing::warn!(error = %e, path = %path.display(), "simulated printer could not write");
            // Leave nothing behind that a restart would mistake for a printed label.
            let _ = fs::remove_file(&path);
            return Err(PrinterStatus::Offline);
        }
        if let Some(text) = &job.qr_text
            && let Err(e) = fs::write(self.dir.join(qr_text_file(&file)), text)
        {
            tracing::warn!(error = %e, "simulated printer could not keep the QR text");
        }
        self.state().printed.push(PrintedLabel {
            number,
            label: job.label,
            intake: job.intake,
            file,
            printed_ms: unix_ms(SystemTime::now()),
            qr_text: job.qr_text.clone(),
        });
        Ok(())
    }
}
