//! Reads values that the Cluster spec references as `SecretKeySelector`s. In a pod the operator
//! mounts each Secret as a directory (`<secretsDir>/<secret>/<key>`); tests lay out the same tree.

use pgfed_api::k8s_openapi::api::core::v1::SecretKeySelector;
use std::path::{Path, PathBuf};

/// A referenced secret value that is missing or unreadable.
#[derive(Debug, thiserror::Error)]
#[error("cannot read secret {secret}/{key} from {path}: {source}")]
pub struct SecretError {
    /// Secret name.
    pub secret: String,
    /// Key inside the secret.
    pub key: String,
    /// File that was read.
    pub path: PathBuf,
    /// Cause.
    pub source: std::io::Error,
}

/// Where the value a selector points at is mounted: `<dir>/<secret>/<key>`. For programs that
/// read the file themselves (libpq's `sslcert`, `sslkey`, `sslrootcert`). Pure.
pub fn selector_path(dir: &Path, selector: &SecretKeySelector) -> PathBuf {
    dir.join(&selector.name).join(&selector.key)
}

/// Reads `<dir>/<name>/<key>` and trims one trailing newline (kubectl-created secrets often have one).
pub fn read_secret(dir: &Path, name: &str, key: &str) -> Result<String, SecretError> {
    let path = dir.join(name).join(key);
    let text = std::fs::read_to_string(&path).map_err(|source| SecretError {
        secret: name.to_string(),
        key: key.to_string(),
        path: path.clone(),
        source,
    })?;
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_string())
}

/// Reads the value a selector points at.
pub fn read_selector(dir: &Path, selector: &SecretKeySelector) -> Result<String, SecretError> {
    read_secret(dir, &selector.name, &selector.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_trims_one_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("s3")).expect("mkdir");
        std::fs::write(dir.path().join("s3/ACCESS_KEY_ID"), "minio\n").expect("write");
        assert_eq!(
            read_secret(dir.path(), "s3", "ACCESS_KEY_ID").expect("read"),
            "minio"
        );
        let err = read_secret(dir.path(), "s3", "missing").expect_err("missing key");
        assert!(err.to_string().contains("s3/missing"), "{err}");
    }
}
