//! The admission webhook: serves `api::admission` (defaulting and validation) to the API server
//! over TLS, with a certificate from the operator's own CA, renewed while the operator runs.
//!
//! Pure parts: `review` (AdmissionReview in, AdmissionResponse out) and `certs` (generation and
//! the renewal and write-race decisions). Side effects: `secret` (certificate Secret, caBundle
//! injection), `renewal` (the background loop) and `server`.

pub mod certs;
pub mod renewal;
pub mod review;
pub mod secret;
pub mod server;

pub use server::{RunArgs, router, run};
