fn main() {
    std::process::exit(kdump_examples::vmcore_capture::main(std::env::args_os()));
}
