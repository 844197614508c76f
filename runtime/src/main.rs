fn main() {
    eprintln!("initscope-runtime: not built yet");
    std::process::exit(1);
}
