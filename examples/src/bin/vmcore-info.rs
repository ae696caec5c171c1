fn main() {
    std::process::exit(kdump_examples::vmcore_info::main(std::env::args_os()));
}
