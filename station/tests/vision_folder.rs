#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The watched folder: a page image dropped in by a document scanner becomes one scan, the page
//! is moved aside, and a page without a readable code is set aside with a note, sending nothing.

use std::time::Duration;

use station::devices::Input;
use station::label::encode_png;
use station::template::{Field, Fields, Template};
use station::vision::folder::{self, FolderConfig, READ_DIR, UNREADABLE_DIR};
use tokio::sync::{mpsc, oneshot};

const PAYLOAD: &str =
    "URNA1:GWU2-2223-X:1763769600:0a1b2c3d:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPI";

#[tokio::test]
async fn a_printed_receipt_dropped_into_the_folder_arrives_as_one_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (inputs, mut received) = mpsc::channel(8);
    let (stop, stopped) = oneshot::channel::<()>();
    let config = FolderConfig {
        poll_ms: 50,
        ..FolderConfig::new(dir.path())
    };
    let task = tokio::spawn(folder::run(config, inputs, async {
        let _ = stopped.await;
    }));

    let page = Template::builtin("receipt-80mm")
        .unwrap()
        .render(&Fields::sample().with(Field::ReceiptPayload, PAYLOAD))
        .unwrap();
    std::fs::write(dir.path().join("skan-0001.png"), encode_png(&page).unwrap()).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a page").unwrap();
    std::fs::write(dir.path().join("skan-0002.jpg"), b"\xff\xd8\xff garbage").unwrap();

    let input = tokio::time::timeout(Duration::from_secs(20), received.recv())
        .await
        .expect("the scan arrives")
        .unwrap();
    assert_eq!(input, Input::Scanned(PAYLOAD.to_owned()));

    // The garbage page is set aside with a note, the good one moved to read/; nothing else
    // arrives, and nothing is read twice.
    let note = dir.path().join(UNREADABLE_DIR).join("skan-0002.txt");
    tokio::time::timeout(Duration::from_secs(10), async {
        while !note.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the unreadable page is set aside");
    assert!(dir.path().join(READ_DIR).join("skan-0001.png").exists());
    assert!(
        dir.path()
            .join(UNREADABLE_DIR)
            .join("skan-0002.jpg")
            .exists()
    );
    let why = std::fs::read_to_string(&note).unwrap();
    assert!(why.contains(" / "), "Polish and English: {why}");
    assert!(
        dir.path().join("notes.txt").exists(),
        "other files are left alone"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(received.try_recv().is_err(), "one page, one scan");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task stops on shutdown")
        .unwrap();
}

#[test]
fn the_poll_interval_is_checked_by_key() {
    let config = FolderConfig {
        poll_ms: 1,
        ..FolderConfig::new("/tmp")
    };
    assert_eq!(config.validate().unwrap_err().key, "vision.folder.poll_ms");
}
