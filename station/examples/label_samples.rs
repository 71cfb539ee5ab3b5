//! Writes sample receipts and envelope labels as PNGs, for a look by eye:
//! `cargo run -p station --example label_samples -- DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

use records::{IntakeId, ReceiptPayload, SigningKey};
use station::label::{
    EnvelopeLabel, LabelSize, Receipt, render_envelope_label, render_receipt, standard_next_steps,
};

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: label_samples DIR");
        return ExitCode::FAILURE;
    };
    match write(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("label_samples: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let intake = IntakeId::new("GW7K".parse()?, 17)?;
    let payload =
        ReceiptPayload::sign(intake, 1_763_768_771, &SigningKey::from_bytes(&[1; 32])).to_string();
    for (size, name) in [(LabelSize::PAPER_58MM, "58"), (LabelSize::PAPER_80MM, "80")] {
        let receipt = Receipt {
            intake,
            station_name: "Urna przy wejściu głównym".into(),
            place: "Urząd Miejski w Gliwicach, ul. Zwycięstwa 21".into(),
            deposited_at: "2026-11-22 00:46".into(),
            category: "Podatki i opłaty lokalne / Local taxes and fees".into(),
            payload: payload.clone(),
            status_url: "https://bip.gliwice.example/status".into(),
            next_steps: standard_next_steps(),
        };
        let envelope = EnvelopeLabel {
            intake,
            category: receipt.category.clone(),
            station_name: receipt.station_name.clone(),
            deposited_at: receipt.deposited_at.clone(),
        };
        render_receipt(&receipt, size).save(dir.join(format!("receipt-{name}.png")))?;
        render_envelope_label(&envelope, size).save(dir.join(format!("envelope-{name}.png")))?;
    }
    println!(
        "wrote receipt-58.png, receipt-80.png, envelope-58.png, envelope-80.png in {}",
        dir.display()
    );
    Ok(())
}
