use clap::Parser;

fn main() {
    let cli = lofi_daemon::cli::Cli::parse();
    std::process::exit(lofi_daemon::cli::run(cli));
}
