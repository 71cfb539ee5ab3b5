//! Writes a custody log of N deposits quickly (10,000 per transaction), for measuring verification
//! of large logs: `cargo run --release -p station --example bulk_log -- PATH N`, then
//! `urna log verify --db PATH`.

use std::path::PathBuf;
use std::process::ExitCode;

use records::{Channel, Intake, IntakeId, Payload, Text, Timestamp};
use station::{CustodyLog, Entry, StationKey};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(count)) = (args.next(), args.next().and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: bulk_log PATH N");
        return ExitCode::FAILURE;
    };
    match write(PathBuf::from(path), count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bulk_log: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(path: PathBuf, count: u64) -> Result<(), Box<dyn std::error::Error>> {
    let station = "GW7K".parse()?;
    let mut log = CustodyLog::open(&path, station, StationKey::from_seed([9; 32]))?;
    let category = Text::new("podatki i opłaty")?;
    let mut written = 0;
    while written < count {
        let n = (count - written).min(10_000);
        let entries = (0..n).map(|k| {
            let when = Timestamp {
                unix_ms: 1_763_768_771_000 + ((written + k) as i64) * 1000,
                trusted: true,
            };
            let category = category.clone();
            let build: Box<dyn FnOnce(IntakeId) -> Payload> = Box::new(move |id| {
                Payload::Deposit(Intake {
                    id,
                    received_at: when,
                    channel: Channel::Urn,
                    category,
                    reference: None,
                    sender: None,
                    attachments: None,
                })
            });
            (when, Entry::NewIntake(build))
        });
        log.append_all(entries)?;
        written += n;
    }
    println!("{} events in {}", log.tip().seq, path.display());
    Ok(())
}
