fn main() {
    std::process::exit(kdump_examples::kdump_config::main(std::env::args_os()));
}
