//! Every CustomResourceDefinition of the API, generated from the types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// All CRDs with the file name each one is checked in under (`manifests/crds/<file>`).
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("cluster.yaml", crate::cluster::Cluster::crd()),
        ("backup.yaml", crate::backup::Backup::crd()),
        (
            "scheduledbackup.yaml",
            crate::backup::ScheduledBackup::crd(),
        ),
        ("pooler.yaml", crate::pooler::Pooler::crd()),
        ("database.yaml", crate::database::Database::crd()),
        ("publication.yaml", crate::database::Publication::crd()),
        ("subscription.yaml", crate::database::Subscription::crd()),
        (
            "imagecatalog.yaml",
            crate::image_catalog::ImageCatalog::crd(),
        ),
        (
            "clusterimagecatalog.yaml",
            crate::image_catalog::ClusterImageCatalog::crd(),
        ),
        ("federation.yaml", crate::federation::Federation::crd()),
    ]
}

/// Renders CRDs as a multi-document YAML stream.
pub fn to_yaml(crds: &[CustomResourceDefinition]) -> Result<String, serde_norway::Error> {
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(crd)?);
    }
    Ok(out)
}

/// The `crd` subcommand shared by the operator and federation binaries.
pub mod command {
    use std::path::PathBuf;

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

    /// Runs the `crd` subcommand.
    pub fn run(args: &CrdArgs) -> Result<(), CrdCommandError> {
        let crds = super::all();
        match &args.out_dir {
            None => {
                let all: Vec<_> = crds.into_iter().map(|(_, crd)| crd).collect();
                print!("{}", super::to_yaml(&all)?);
            }
            Some(dir) => {
                for (file, crd) in crds {
                    let path = dir.join(file);
                    let yaml = super::to_yaml(std::slice::from_ref(&crd))?;
                    std::fs::write(&path, yaml).map_err(|source| CrdCommandError::Write {
                        path: path.clone(),
                        source,
                    })?;
                }
            }
        }
        Ok(())
    }
}
