//! The `harbor-bridge` binary: parses the command line and hands over to the library.
//! See `cli` for the commands.

mod cli;

fn main() -> std::process::ExitCode {
    // The built-in model's maths reads its thread count once, from rayon's variable; it is set
    // here, before any thread starts (setting the environment later would race them).
    #[cfg(feature = "builtin-model")]
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", harbor_bridge::llm::builtin::model_threads().to_string());
    }
    cli::main()
}
