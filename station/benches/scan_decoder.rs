//! Throughput of the serial scanner's decoder (MB/s of scanner input): realistic codes with AIM
//! identifiers and CR LF, and a garbage stream with no terminator.
//! Run: `cargo bench -p station --bench scan_decoder`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use station::devices::scan_decoder::{DecoderConfig, ScanDecoder};
use std::hint::black_box;

/// About 1 MB of form references and urna labels, as a scanner sends them.
fn codes() -> Vec<u8> {
    let mut input = Vec::new();
    let mut i = 0u32;
    while input.len() < 1 << 20 {
        let code = match i % 3 {
            0 => format!("]Q1GKM.6220.{i}.2026\r\n"),
            1 => format!("]C0GW7K-{i:06}\r\n"),
            _ => format!("]Q1urna:1:GW7K-{i:06}:1763768771:c2lnbmF0dXJlIGdvZXMgaGVyZQ\r\n"),
        };
        input.extend_from_slice(code.as_bytes());
        i += 1;
    }
    input
}

/// 1 MB of line noise with no terminator: the too-long path.
fn noise() -> Vec<u8> {
    (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 0x80)
        .collect()
}

fn benches(c: &mut Criterion) {
    let config = DecoderConfig {
        aim_ids: true,
        max_len: 1024,
    };
    let mut group = c.benchmark_group("scan_decoder");
    for (name, input) in [("codes", codes()), ("noise", noise())] {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut decoder = ScanDecoder::new(config);
                // Fed in 64-byte reads, the size a USB CDC-ACM packet delivers.
                for chunk in input.chunks(64) {
                    black_box(decoder.decode_all(black_box(chunk)));
                }
                decoder.stats()
            })
        });
    }
    group.finish();
}

criterion_group!(scan_decoder, benches);
criterion_main!(scan_decoder);
