//! The admission webhook: serves `api::admission` (defaulting and validation) to the API server
//! over TLS, with a certificate from the operator's own CA.
//!
//! Pure parts: `review` (AdmissionReview in, AdmissionResponse out) and `certs` (generation and
//! renewal decisions). Side effects: `secret` (certificate Secret, caBundle injection) and `server`.

pub mod certs;
pub mod review;
pub mod secret;
pub mod server;

pub use server::{RunArgs, run};
