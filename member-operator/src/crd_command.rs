//! The `crd` subcommand of the operator and federation binaries: the arguments and the file I/O
//! around the pure `pgfed_api::crds`. Both binaries call this one implementation.

use std::path::{Path, PathBuf};

/// Print the CRDs, or write one file per kind into a directory.
#[derive(Debug, Clone, clap::Args)]
pub struct CrdArgs {
    /// Write one file per kind into this directory instead of printing to stdout.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// Why the CRDs could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CrdCommandError {
    /// YAML rendering failed.
    #[error("rendering CRD YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Runs the `crd` subcommand: all CRDs to stdout, or `<out-dir>/<kind>.yaml` each.
pub fn run(args: &CrdArgs) -> Result<(), CrdCommandError> {
    match &args.out_dir {
        None => {
            print!("{}", render_all()?);
            Ok(())
        }
        Some(dir) => write_files(dir),
    }
}

fn render_all() -> Result<String, serde_norway::Error> {
    let all: Vec<_> = pgfed_api::crds::all()
        .into_iter()
        .map(|(_, crd)| crd)
        .collect();
    pgfed_api::crds::to_yaml(&all)
}

fn write_files(dir: &Path) -> Result<(), CrdCommandError> {
    for (file, crd) in pgfed_api::crds::all() {
        let path = dir.join(file);
        let yaml = pgfed_api::crds::to_yaml(std::slice::from_ref(&crd))?;
        std::fs::write(&path, yaml).map_err(|source| CrdCommandError::Write { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_file_per_kind_matching_the_stream() {
        let dir = tempfile::tempdir().expect("temp dir");
        run(&CrdArgs {
            out_dir: Some(dir.path().to_path_buf()),
        })
        .expect("crd --out-dir");
        let mut joined = String::new();
        for (file, _) in pgfed_api::crds::all() {
            let text = std::fs::read_to_string(dir.path().join(file)).expect(file);
            assert!(text.starts_with("---\n"), "{file}");
            joined.push_str(&text);
        }
        assert_eq!(joined, render_all().expect("yaml"));
    }

    #[test]
    fn a_missing_directory_names_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("absent");
        let err = run(&CrdArgs {
            out_dir: Some(missing.clone()),
        })
        .expect_err("no such directory");
        assert!(
            matches!(&err, CrdCommandError::Write { path, .. } if path.starts_with(&missing)),
            "{err}"
        );
    }
}
