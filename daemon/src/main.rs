fn main() {
    let cli = lofi_daemon::cli::Cli::parse_checked();
    std::process::exit(lofi_daemon::cli::run(cli));
}
