fn main() {
    std::process::exit(kdump_examples::crashkernel::main(std::env::args_os()));
}
