//! The `bpa-infra` command: parses arguments, runs one command, maps the outcome to an exit code.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
