//! Time of MiniLM's dense products for a few rows (a search question), weights
//! in f16 panels, cycling through six layers' worth of weights as the encoder
//! does: `cargo run --release -p quire-kernels --example gemm_small [ROWS]`.

use quire_kernels::gemm::{gemm, HalfPackedMatrix, Output, PackedMatrix};
use std::time::Instant;

fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(16);
    let shapes = [(384, 1152), (384, 384), (384, 1536), (1536, 384)];
    let mut seed = 1u32;
    let mut rnd = move || {
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        (seed >> 9) as f32 / (1u32 << 23) as f32 - 0.5
    };
    let layers: Vec<Vec<HalfPackedMatrix>> = (0..6)
        .map(|_| {
            shapes
                .iter()
                .map(|&(depth, width)| {
                    let w: Vec<f32> = (0..depth * width).map(|_| rnd()).collect();
                    HalfPackedMatrix::from_packed(
                        &PackedMatrix::from_out_in(&w, width, depth).expect("shape"),
                    )
                })
                .collect()
        })
        .collect();
    let a: Vec<f32> = (0..rows * 1536).map(|_| rnd()).collect();
    let mut c = vec![0f32; rows * 1536];
    let bytes: usize = layers.iter().flatten().map(|m| m.bytes()).sum();
    let flops: usize = 6 * shapes.iter().map(|(d, w)| 2 * rows * d * w).sum::<usize>();
    let mut times = Vec::new();
    for _ in 0..300 {
        let t0 = Instant::now();
        for layer in &layers {
            for m in layer {
                let out = Output {
                    bias: None,
                    accumulate: false,
                };
                gemm(&a, m.depth(), rows, &m.view(), &mut c, m.width(), out);
            }
        }
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let t = times[times.len() / 2];
    println!(
        "{rows} rows: 24 products in {:.2} ms p50 ({:.1} GB/s of weights, {:.1} GFLOP/s)",
        t * 1e3,
        bytes as f64 / t / 1e9,
        flops as f64 / t / 1e9
    );
}
