fn main() -> std::process::ExitCode {
    steward_reverse::client_main(std::env::args_os())
}
