//! The `urna` command as a person runs it: real processes, real files, one-line errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use records::{Payload, Timestamp};
use station::{CustodyLog, StationKey};

fn urna(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_urna"))
        .args(args)
        .env("TZ", "Europe/Warsaw")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure is one line on stderr, a non-zero exit, and never a panic or backtrace.
fn assert_one_line_error(o: &Output, must_contain: &str) {
    assert!(!o.status.success(), "should fail: {}", stdout(o));
    let err = stderr(o);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.starts_with("urna: error: "), "{err}");
    assert!(
        err.contains(must_contain),
        "expected {must_contain:?} in: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

/// A log of `n` events signed with the key in `key_file`.
fn make_log(db: &Path, key_file: &Path, n: i64) {
    let key = StationKey::load(key_file).unwrap();
    let mut log = CustodyLog::open(db, "GW7K".parse().unwrap(), key).unwrap();
    for i in 0..n {
        let when = Timestamp {
            unix_ms: 1_763_768_771_000 + i * 1000,
            trusted: i % 5 != 4,
        };
        if i % 2 == 0 {
            log.append_intake(when, move |id| {
                Payload::Deposit(records::Intake {
                    id,
                    received_at: when,
                    channel: records::Channel::Urn,
                    category: records::Text::new("budownictwo").unwrap(),
                    reference: None,
                    sender: None,
                    attachments: None,
                })
            })
            .unwrap();
        } else {
            log.append(when, Payload::DoorOpened).unwrap();
        }
    }
}

#[test]
fn help_lists_the_commands() {
    let o = urna(&["--help"]);
    assert!(o.status.success());
    let text = stdout(&o);
    for command in ["keygen", "log"] {
        assert!(text.contains(command), "{text}");
    }
    let o = urna(&["log", "--help"]);
    for command in ["verify", "show", "export"] {
        assert!(stdout(&o).contains(command), "{}", stdout(&o));
    }
    let o = urna(&["log", "verify", "--help"]);
    assert!(stdout(&o).contains("--db"), "{}", stdout(&o));
}

#[test]
fn keygen_makes_a_private_key_and_refuses_to_overwrite_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("station.key");
    let o = urna(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let loaded = StationKey::load(&key).unwrap();
    assert!(
        stdout(&o).contains(&format!("fingerprint: {}", loaded.fingerprint())),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = std::fs::read(&key).unwrap();
    let o = urna(&["keygen", "--out", key.to_str().unwrap()]);
    assert_one_line_error(&o, "already exists");
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // The key itself is never printed.
    let body = String::from_utf8(before).unwrap();
    let secret_line = body.lines().nth(1).unwrap();
    assert!(!stdout(&o).contains(secret_line) && !stderr(&o).contains(secret_line));
}

#[test]
fn verify_show_and_export_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("station.key");
    let db = dir.path().join("log.db");
    assert!(
        urna(&["keygen", "--out", key.to_str().unwrap()])
            .status
            .success()
    );
    make_log(&db, &key, 25);
    let db_arg = db.to_str().unwrap();

    let o = urna(&["log", "verify", "--db", db_arg]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("events 1..=25 verified"),
        "{}",
        stdout(&o)
    );

    let o = urna(&[
        "log",
        "verify",
        "--db",
        db_arg,
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    let other = dir.path().join("other.key");
    assert!(
        urna(&["keygen", "--out", other.to_str().unwrap()])
            .status
            .success()
    );
    let o = urna(&[
        "log",
        "verify",
        "--db",
        db_arg,
        "--key",
        other.to_str().unwrap(),
    ]);
    assert_one_line_error(&o, "seq 1: signed by unknown key");

    let o = urna(&["log", "show", "--db", db_arg, "-n", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].contains(" 23  ") && lines[1].contains("deposit"),
        "{text}"
    );
    assert!(lines[1].contains("GW7K-222E-"), "intake 12 of GW7K: {text}");
    assert!(
        lines[2].contains("door_opened") && lines[2].ends_with('-'),
        "{text}"
    );
    // 1_763_768_771 s is 2025-11-21T23:46:11Z; i = 24 adds 24 s; Warsaw is UTC+1 in November;
    // that reading (i % 5 == 4) was untrusted and is marked.
    assert!(lines[3].starts_with("2025-11-22 00:46:35?"), "{text}");

    let o = urna(&["log", "export", "--db", db_arg]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 25);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["seq"], i as u64 + 1);
        assert_eq!(row["event"]["seq"], i as u64 + 1);
        assert_eq!(row["event"]["station"], "GW7K");
        assert_eq!(row["hash"].as_str().unwrap().len(), 64);
    }
    assert_eq!(rows[0]["event"]["payload"]["kind"], "deposit");
    assert_eq!(rows[0]["event"]["payload"]["category"], "budownictwo");
    assert_eq!(rows[1]["event"]["payload"]["kind"], "door_opened");
}

#[test]
fn a_tampered_log_fails_verification_naming_the_seq() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("station.key");
    let db = dir.path().join("log.db");
    assert!(
        urna(&["keygen", "--out", key.to_str().unwrap()])
            .status
            .success()
    );
    make_log(&db, &key, 12);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM events WHERE seq = 5", [])
        .unwrap();
    drop(conn);
    let o = urna(&["log", "verify", "--db", db.to_str().unwrap()]);
    assert_one_line_error(&o, "seq 5: gap: expected seq 5, found seq 6");
}

#[test]
fn bad_files_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"this is not a database, it is a shopping list ...........................................................").unwrap();
    let o = urna(&["log", "show", "--db", garbage.to_str().unwrap()]);
    assert_one_line_error(&o, "is not an urna custody log");

    let o = urna(&[
        "log",
        "verify",
        "--db",
        dir.path().join("missing.db").to_str().unwrap(),
    ]);
    assert_one_line_error(&o, "no such file");

    let key = dir.path().join("station.key");
    let db = dir.path().join("log.db");
    assert!(
        urna(&["keygen", "--out", key.to_str().unwrap()])
            .status
            .success()
    );
    make_log(&db, &key, 2);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = urna(&[
        "log",
        "verify",
        "--db",
        db.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_one_line_error(&o, "chmod 600");

    let o = urna(&["log", "frobnicate"]);
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("panicked"));
}

fn urna_with_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_urna"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn staff_accounts_are_added_listed_and_disabled_with_the_pin_kept_off_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("staff.db");
    let db = db.to_str().unwrap();
    let added = urna_with_stdin(
        &[
            "staff",
            "add",
            "--db",
            db,
            "--badge",
            "1007",
            "--name",
            "Maria Wiśniewska",
            "--role",
            "supervisor",
        ],
        "906142\n",
    );
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(stdout(&added).contains("Maria Wiśniewska (supervisor, badge 1007)"));
    assert!(!stdout(&added).contains("906142") && !stderr(&added).contains("906142"));

    // A bad PIN and a taken badge: one clear line each, the PIN never echoed.
    let short = urna_with_stdin(
        &[
            "staff", "add", "--db", db, "--badge", "1008", "--name", "Jan",
        ],
        "12\n",
    );
    assert_one_line_error(&short, "PIN: 4 to 12 digits");
    let taken = urna_with_stdin(
        &[
            "staff", "add", "--db", db, "--badge", "1007", "--name", "Ktoś",
        ],
        "135790\n",
    );
    assert_one_line_error(&taken, "badge 1007 already has an account");
    assert!(!stderr(&taken).contains("135790"));
    let role = urna(&[
        "staff", "add", "--db", db, "--badge", "1009", "--name", "X", "--role", "admin",
    ]);
    assert!(!role.status.success());

    let listed = urna(&["staff", "list", "--db", db]);
    assert_eq!(stdout(&listed), "1007\tsupervisor\tMaria Wiśniewska\n");
    assert!(
        urna(&["staff", "disable", "--db", db, "--badge", "1007"])
            .status
            .success()
    );
    let listed = urna(&["staff", "list", "--db", db]);
    assert_eq!(
        stdout(&listed),
        "1007\tsupervisor\tMaria Wiśniewska\t(disabled)\n"
    );
    assert_one_line_error(
        &urna(&["staff", "disable", "--db", db, "--badge", "4040"]),
        "no account for badge 4040",
    );
}

#[test]
fn back_up_and_restore_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("station.key");
    let db = dir.path().join("log.db");
    assert!(
        urna(&["keygen", "--out", key.to_str().unwrap()])
            .status
            .success()
    );
    make_log(&db, &key, 25);
    let backup = dir.path().join("backup.db");
    let o = urna(&[
        "log",
        "backup",
        "--db",
        db.to_str().unwrap(),
        "--out",
        backup.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("events 1..=25 verified"),
        "{}",
        stdout(&o)
    );
    // Onto the live log: refused, and the log is untouched.
    let o = urna(&[
        "log",
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("never overwrites"), "{}", stderr(&o));
    let restored = dir.path().join("restored.db");
    let o = urna(&[
        "log",
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--db",
        restored.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("this log ends at seq 25"),
        "{}",
        stdout(&o)
    );
    let o = urna(&["log", "verify", "--db", restored.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}
