//! Print a synthetic stream as JSONL: `cargo run -p initscope --example synth -- ours|runc|failed|runtime-only|many N`.

use initscope::synth::{self, FailAt, Options};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let events = match args.first().map(String::as_str) {
        Some("runc") => synth::runc_run(7000, 5_000_000_000_000),
        Some("failed") => synth::initscope_bootstrap(Options {
            fail: Some(FailAt::InitMount),
            ..Options::default()
        }),
        Some("runtime-only") => synth::initscope_bootstrap(Options {
            kernel: false,
            ..Options::default()
        }),
        Some("many") => synth::many(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10)),
        _ => synth::initscope_bootstrap(Options::default()),
    };
    for e in events {
        println!("{}", e.to_json());
    }
}
