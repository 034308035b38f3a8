use quire_kernels::q8::{Format, Layout, Q8Vector, QMatrix};
use std::time::Instant;
fn main() {
    for (r, c) in [(576usize, 576usize), (3072, 576), (30 * 3072, 576)] {
        let data: Vec<u8> = (0..r * Format::Q4_1.row_bytes(c))
            .map(|i| (i * 2654435761usize >> 7) as u8 & 0x3f)
            .collect();
        let m = QMatrix::with_layout(Format::Q4_1, r, c, data, Layout::Tiles).unwrap();
        let x: Vec<f32> = (0..c).map(|i| (i as f32).sin()).collect();
        let mut a = Q8Vector::default();
        a.quantize(&x);
        let mut y = vec![0f32; r];
        let n = 200_000_000 / (r * c);
        let t = Instant::now();
        for _ in 0..n {
            m.matvec(&a, &mut y);
        }
        let dt = t.elapsed().as_secs_f64() / n as f64;
        let tb = (r / 16 * c / 32) as f64;
        println!(
            "{r}x{c}: {:.1} us, {:.1} GB/s, {:.1} ns per tile-block",
            dt * 1e6,
            (r * Format::Q4_1.row_bytes(c)) as f64 / dt / 1e9,
            dt * 1e9 / tb
        );
    }
}
