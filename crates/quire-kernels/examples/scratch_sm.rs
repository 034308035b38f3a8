use std::time::Instant;
fn main() {
    let mut x: Vec<f32> = (0..256 * 1024)
        .map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0)
        .collect();
    let orig = x.clone();
    for _ in 0..3 {
        x.copy_from_slice(&orig);
        let t = Instant::now();
        for r in x.chunks_exact_mut(256) {
            quire_kernels::decode::softmax_row(r);
        }
        let dt = t.elapsed().as_secs_f64();
        let mut g: Vec<f32> = orig[..1536 * 170].to_vec();
        let bias: Vec<f32> = (0..1536).map(|i| i as f32 / 1536.0).collect();
        let t2 = Instant::now();
        quire_kernels::bias_gelu(&mut g, &bias);
        let dg = t2.elapsed().as_secs_f64();
        println!(
            "softmax {:.2} ns/elem, gelu {:.2} ns/elem",
            dt * 1e9 / x.len() as f64,
            dg * 1e9 / g.len() as f64
        );
    }
}
