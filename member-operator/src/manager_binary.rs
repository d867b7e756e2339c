//! The instance manager this operator carries in its image, which it rolls out to running
//! instances in place (see `cluster::decide::upgrade`). Its digest is computed once at start;
//! the file is streamed from disk for an upload, so the operator never holds tens of MiB of it.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the image keeps the manager.
pub const DEFAULT_PATH: &str = "/usr/local/bin/manager";

/// The manager binary this operator rolls out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerBinary {
    /// Its path in the operator's image.
    pub path: PathBuf,
    /// SHA-256, lowercase hex — what a manager reports as `managerHash` once it runs this binary.
    pub digest: String,
}

impl ManagerBinary {
    /// Reads `path` and digests it.
    pub fn load(path: &Path) -> std::io::Result<ManagerBinary> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let digest = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(ManagerBinary {
            path: path.to_path_buf(),
            digest,
        })
    }

    /// The file to upload, streamed. The manager checks what arrives against the digest taken
    /// here at start, so a file changed under a running operator is refused, not installed.
    pub async fn open(&self) -> std::io::Result<tokio::fs::File> {
        tokio::fs::File::open(&self.path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_digest_is_sha256_of_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("manager");
        std::fs::write(&path, b"abc").expect("write");
        let binary = ManagerBinary::load(&path).expect("load");
        assert_eq!(
            binary.digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(binary.open().await.is_ok());
    }
}
