fn main() {
    std::process::exit(kdump_examples::kexec_load::main(std::env::args_os()));
}
