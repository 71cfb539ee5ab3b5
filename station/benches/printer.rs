//! Render + encode per label, for every shipped template in every printer language whose head
//! is wide enough for it; and the encoders alone on the rendered page. It also writes each
//! rendered page to `target/bench-labels/` so that `scripts/bench-labels` can time brother_ql
//! (Python) converting exactly the same 1-bit images.
//! Run: `scripts/bench-labels` (or `cargo bench -p station --bench printer`)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use station::printer::Language;
use station::printer::brother_ql::{BrotherQl, QlConfig};
use station::printer::escpos::EscPos;
use station::printer::zpl::Zpl;
use station::template::{Fields, Template, builtin_names};

/// Each language under the name its results carry; Brother QL both as a QL-800 takes it
/// (uncompressed) and as a QL-810W can (PackBits).
fn languages() -> Vec<(&'static str, Box<dyn Language>)> {
    let compressed = QlConfig {
        compression: true,
        ..QlConfig::default()
    };
    vec![
        ("escpos", Box::new(EscPos::new(EscPos::WIDTH_80MM))),
        ("zpl", Box::new(Zpl::new(Zpl::WIDTH_4IN_203DPI))),
        ("brother_ql", Box::new(BrotherQl::default())),
        (
            "brother_ql+packbits",
            Box::new(BrotherQl::new(compressed).unwrap()),
        ),
    ]
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-labels");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn benches(c: &mut Criterion) {
    let fields = Fields::sample();
    let dir = out_dir();
    for name in builtin_names() {
        let template = Template::builtin(name).unwrap();
        let page = template.render(&fields).unwrap();
        page.save(dir.join(format!("{name}.png"))).unwrap();
        c.bench_function(&format!("render/{name}"), |b| {
            b.iter(|| template.render(black_box(&fields)).unwrap())
        });
        for (lang, language) in languages() {
            let Ok(bytes) = language.encode_page(&page) else {
                continue; // wider than this printer's head
            };
            println!("size/{name}/{lang}: {} bytes", bytes.len());
            c.bench_function(&format!("encode/{name}/{lang}"), |b| {
                b.iter(|| language.encode_page(black_box(&page)).unwrap())
            });
            c.bench_function(&format!("render+encode/{name}/{lang}"), |b| {
                b.iter(|| {
                    let page = template.render(black_box(&fields)).unwrap();
                    language.encode_page(&page).unwrap()
                })
            });
        }
    }
}

criterion_group! {
    name = printer;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = benches
}
criterion_main!(printer);
