//! How many calls of a function to time: shared by the benchmarks that time calls in a loop.

use std::time::Instant;

/// How many calls of `f` take about `target` seconds (growing by 4x until a batch takes at least
/// a quarter of `target`, at most 4^13 calls).
pub fn calibrate(mut f: impl FnMut(), target: f64) -> usize {
    let mut number = 1usize;
    loop {
        let t0 = Instant::now();
        for _ in 0..number {
            f();
        }
        let dt = t0.elapsed().as_secs_f64();
        if dt >= target / 4.0 || number >= 1 << 26 {
            return ((number as f64 * target / dt.max(1e-9)) as usize).max(1);
        }
        number *= 4;
    }
}
