//! Entry point of `/controller/manager`; everything lives in the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    pgfed_manager::cli::main()
}
