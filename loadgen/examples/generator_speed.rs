//! Generator throughput on one core (the bench's generator must not be the bottleneck):
//! `cargo run --release -p foresight-loadgen --example generator_speed [-- devops]`.

use std::time::Instant;

use foresight_loadgen::{Generator, WorkloadKind, WorkloadSpec};

fn main() -> Result<(), foresight_loadgen::Error> {
    let kind = match std::env::args().nth(1).as_deref() {
        Some("devops") => WorkloadKind::Devops,
        _ => WorkloadKind::Cpu,
    };
    for out_of_order in [0.0, 0.05] {
        let spec = WorkloadSpec {
            kind,
            out_of_order,
            churn: 0.1,
            ..WorkloadSpec::default()
        };
        let mut g = Generator::new(&spec)?;
        let mut buf = Vec::with_capacity(5000 * 300);
        let (mut bytes, t) = (0usize, Instant::now());
        loop {
            buf.clear();
            if g.fill(&mut buf, 5000).lines == 0 {
                break;
            }
            bytes += buf.len();
        }
        let s = t.elapsed().as_secs_f64();
        let e = g.emitted();
        println!(
            "{kind} out-of-order {out_of_order}: {} lines, {} samples, {} MiB in {s:.2} s = {:.1} M samples/s, {:.0} MiB/s",
            e.lines,
            e.samples,
            bytes >> 20,
            e.samples as f64 / s / 1e6,
            bytes as f64 / s / (1 << 20) as f64
        );
    }
    Ok(())
}
