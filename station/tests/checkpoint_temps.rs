//! Temporary files a killed checkpoint writer left beside the custody log (`<log>.checkpoint.<pid>.<n>.tmp`)
//! are cleared when the log next opens, on real files and real processes; files another writer may
//! still be renaming, and anything else in the directory, stay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;
use station::CustodyLog;

/// A process, killed and reaped when the test ends however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Not a test of its own: a copy of this program that stays alive (until its stdin closes) when
/// `URNA_TEST_HOLD` is set, standing for a second urna process that may be writing.
#[test]
fn holds_while_asked() {
    if std::env::var_os("URNA_TEST_HOLD").is_none() {
        return;
    }
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
}

fn touch(dir: &Path, name: &str) {
    std::fs::write(dir.join(name), b"{\"seq\":1").unwrap();
}

#[test]
fn opening_the_log_clears_temporary_files_of_writers_that_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("custody.db");

    // A writer that is gone: a process that has ended.
    let mut ended = Command::new("true").spawn().unwrap();
    ended.wait().unwrap();
    let gone = ended.id();
    // A live process running another program: after a reboot, the crashed station's pid may
    // belong to anything.
    let other_program = Running(
        Command::new("sleep")
            .arg("60")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // A live copy of this program: it may be renaming its file right now.
    let same_program = Running(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "holds_while_asked", "--test-threads=1"])
            .env("URNA_TEST_HOLD", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let own = std::process::id();
    let cleared = [
        format!("custody.db.checkpoint.{gone}.0.tmp"),
        format!("custody.db.checkpoint.{gone}.17.tmp"),
        format!("custody.db.checkpoint.{}.2.tmp", other_program.0.id()),
    ];
    let kept = [
        // Another handle on this log in this process writes under this pid.
        format!("custody.db.checkpoint.{own}.999999.tmp"),
        format!("custody.db.checkpoint.{}.0.tmp", same_program.0.id()),
        // Not the checkpoint's temporary files.
        format!("other.db.checkpoint.{gone}.0.tmp"),
        "custody.db.checkpoint.tmp".to_owned(),
        format!("custody.db.checkpoint.{gone}.tmp"),
        format!("custody.db.checkpoint.{gone}.0.tmp.keep"),
    ];
    for name in cleared.iter().chain(&kept) {
        touch(dir.path(), name);
    }

    // The station starts and opens its log: the sweep runs once per log and process, at the
    // first checkpoint write, which opening makes.
    let log = CustodyLog::open(&db, station(), key()).unwrap();
    for name in &cleared {
        assert!(!dir.path().join(name).exists(), "{name} was left");
    }
    for name in &kept {
        assert!(dir.path().join(name).exists(), "{name} was removed");
    }
    // The checkpoint itself is whole: the log opens from it again.
    drop(log);
    assert!(dir.path().join("custody.db.checkpoint").exists());
    drop(CustodyLog::open(&db, station(), key()).unwrap());
}
