//! Entry point of `/controller/manager`; everything lives in the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    // Dependencies enable both of rustls' crypto backends; the Kubernetes client (primary Lease)
    // needs one chosen for the process (Err: already chosen).
    let _ = rustls::crypto::ring::default_provider().install_default();
    pgfed_manager::cli::main()
}
