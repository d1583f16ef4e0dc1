//! The `harbor-bridge` binary: parses the command line and hands over to the library.
//! See `cli` for the commands.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
