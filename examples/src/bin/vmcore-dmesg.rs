fn main() {
    std::process::exit(kdump_examples::vmcore_dmesg::main(std::env::args_os()));
}
