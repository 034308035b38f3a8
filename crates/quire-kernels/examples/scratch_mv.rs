use quire_kernels::q8::{Format, Layout, Q8Vector, QMatrix};
use std::time::Instant;
fn main() {
    // 30 layers of SmolLM2: qkv 960x576, o 576x576, gate_up 3072x576, down 576x1536 (Q4_1)
    let shapes = [(960usize, 576usize), (576, 576), (3072, 576), (576, 1536)];
    let mut mats = Vec::new();
    for _ in 0..30 {
        for &(r, c) in &shapes {
            let data: Vec<u8> = (0..r * Format::Q4_1.row_bytes(c))
                .map(|i| (i * 2654435761usize >> 7) as u8 & 0x3f)
                .collect();
            mats.push(QMatrix::with_layout(Format::Q4_1, r, c, data, Layout::Tiles).unwrap());
        }
    }
    let out_data: Vec<u8> = (0..49152 * Format::Q8_0.row_bytes(576))
        .map(|i| (i * 2654435761usize >> 7) as u8 & 0x3f)
        .collect();
    let outm = QMatrix::with_layout(Format::Q8_0, 49152, 576, out_data, Layout::Tiles).unwrap();
    let x576: Vec<f32> = (0..576).map(|i| (i as f32).sin()).collect();
    let x1536: Vec<f32> = (0..1536).map(|i| (i as f32).cos()).collect();
    let (mut a, mut b) = (Q8Vector::default(), Q8Vector::default());
    a.quantize(&x576);
    b.quantize(&x1536);
    let mut y = vec![0f32; 49152];
    let bytes: usize = shapes
        .iter()
        .map(|&(r, c)| r * Format::Q4_1.row_bytes(c))
        .sum::<usize>()
        * 30;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..20 {
            for m in &mats {
                let v = if m.cols == 576 { &a } else { &b };
                m.matvec(v, &mut y[..m.rows]);
            }
        }
        let dt = t.elapsed().as_secs_f64() / 20.0;
        let t = Instant::now();
        for _ in 0..20 {
            outm.matvec(&a, &mut y);
        }
        let dto = t.elapsed().as_secs_f64() / 20.0;
        println!(
            "layers {:.2} ms ({:.1} GB/s), output {:.2} ms ({:.1} GB/s)",
            dt * 1e3,
            bytes as f64 / dt / 1e9,
            dto * 1e3,
            49152.0 * 612.0 / dto / 1e9
        );
    }
}
