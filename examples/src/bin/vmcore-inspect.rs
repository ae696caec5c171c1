fn main() {
    std::process::exit(kdump_examples::vmcore_inspect::main(std::env::args_os()));
}
