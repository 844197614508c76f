fn main() {
    eprintln!("initscope: not built yet");
    std::process::exit(1);
}
