//! Rendering time of a receipt and an envelope label at both paper widths, and of every
//! shipped label template with sample values.
//! Run: `cargo bench -p station --bench label`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use records::{IntakeId, ReceiptPayload, SigningKey};
use station::label::{
    EnvelopeLabel, LabelSize, Receipt, render_envelope_label, render_receipt, standard_next_steps,
};
use station::template::{Field, Fields, Template, builtin_names};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let intake = IntakeId::new("GW7K".parse().unwrap(), 17).unwrap();
    let payload =
        ReceiptPayload::sign(intake, 1_763_768_771, &SigningKey::from_bytes(&[1; 32])).to_string();
    let receipt = Receipt {
        intake,
        station_name: "Urna przy wejściu głównym".into(),
        place: "Urząd Miejski w Gliwicach, ul. Zwycięstwa 21".into(),
        deposited_at: "2026-11-22 00:46".into(),
        category: "Podatki i opłaty lokalne / Local taxes and fees".into(),
        payload,
        status_url: "https://bip.gliwice.example/status".into(),
        next_steps: standard_next_steps(),
    };
    let envelope = EnvelopeLabel {
        intake,
        category: "Podatki i opłaty lokalne / Local taxes and fees".into(),
        station_name: "Urna przy wejściu głównym".into(),
        deposited_at: "2026-11-22 00:46".into(),
    };
    for (size, name) in [
        (LabelSize::PAPER_58MM, "58 mm"),
        (LabelSize::PAPER_80MM, "80 mm"),
    ] {
        c.bench_function(&format!("render receipt {name}"), |b| {
            b.iter(|| render_receipt(black_box(&receipt), size))
        });
        c.bench_function(&format!("render envelope label {name}"), |b| {
            b.iter(|| render_envelope_label(black_box(&envelope), size))
        });
    }
    let fields = Fields::sample()
        .with(Field::IntakeId, intake.to_string())
        .with(Field::ReceiptPayload, receipt.payload.clone());
    for name in builtin_names() {
        let template = Template::builtin(name).unwrap();
        c.bench_function(&format!("render template {name}"), |b| {
            b.iter(|| template.render(black_box(&fields)).unwrap())
        });
    }
}

criterion_group!(label, benches);
criterion_main!(label);
