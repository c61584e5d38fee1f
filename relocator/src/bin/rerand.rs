fn main() {
    eprintln!("rerand: not implemented yet");
    std::process::exit(2);
}
