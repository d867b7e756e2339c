//! Helpers shared by the validation table tests.

use pgfed_api::admission;
use pgfed_api::backup::{BackupSpec, ScheduledBackupSpec};
use pgfed_api::cluster::ClusterSpec;
use pgfed_api::database::{DatabaseSpec, PublicationSpec, SubscriptionSpec};
use pgfed_api::federation::FederationSpec;
use pgfed_api::image_catalog::ImageCatalogSpec;
use pgfed_api::pooler::PoolerSpec;
use pgfed_api::validation::{self, FieldErrors};

/// Validates a YAML spec of `kind`. The Cluster kinds differ only by the object's name: `Cluster`
/// is `pg`, `ClusterName` is `PG_Cluster`, `ClusterName1035` is `1pg`; `NewCluster` is `pg`
/// through the admission webhook's create path (defaults applied, create-only rules).
pub fn validate(kind: &str, yaml: &str) -> FieldErrors {
    fn parse<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
        serde_norway::from_str(yaml)
            .unwrap_or_else(|e| panic!("fixture does not parse: {e}\n{yaml}"))
    }
    match kind {
        "Cluster" => validation::validate_cluster("pg", &parse::<ClusterSpec>(yaml)),
        "ClusterName" => validation::validate_cluster("PG_Cluster", &parse::<ClusterSpec>(yaml)),
        "ClusterName1035" => validation::validate_cluster("1pg", &parse::<ClusterSpec>(yaml)),
        "Federation" => validation::validate_federation("shop", &parse::<FederationSpec>(yaml)),
        "Backup" => validation::validate_backup(&parse::<BackupSpec>(yaml)),
        "ScheduledBackup" => {
            validation::validate_scheduled_backup(&parse::<ScheduledBackupSpec>(yaml))
        }
        "Pooler" => validation::validate_pooler(&parse::<PoolerSpec>(yaml)),
        "Database" => validation::validate_database(&parse::<DatabaseSpec>(yaml)),
        "Publication" => validation::validate_publication(&parse::<PublicationSpec>(yaml)),
        "Subscription" => validation::validate_subscription(&parse::<SubscriptionSpec>(yaml)),
        "ImageCatalog" => validation::validate_image_catalog(&parse::<ImageCatalogSpec>(yaml)),
        "NewCluster" => {
            let spec: serde_json::Value = parse(yaml);
            let doc = serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "Cluster", "metadata": {"name": "pg"}, "spec": spec
            });
            let defaulted = admission::default_document(&doc).expect("defaults");
            admission::validate_document(&defaulted, None).expect("reviewable")
        }
        other => panic!("unknown kind {other}"),
    }
}
