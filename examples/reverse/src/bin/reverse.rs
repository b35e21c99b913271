fn main() -> std::process::ExitCode {
    steward_reverse::service_main()
}
