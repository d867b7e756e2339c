//! Which instances are fenced: the rule lives in [`pgfed_api::cluster::fencing`], shared with
//! the kubectl plugin (which refuses to promote a fenced instance).

pub use pgfed_api::cluster::fencing::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;
    use pgfed_api::cluster::Cluster;
    use pgfed_api::names::ANNOTATION_FENCED_INSTANCES;
    use std::collections::BTreeMap;

    fn annotated(pairs: &[(&str, &str)]) -> Cluster {
        let mut c = stored_cluster(3);
        c.metadata.annotations = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        c
    }

    #[test]
    fn both_spellings_star_and_names() {
        let f = fenced_instances(&annotated(&[(ANNOTATION_FENCED_INSTANCES, r#"["pg-2"]"#)]));
        assert!(f.contains("pg-2") && !f.contains("pg-1") && !f.all);
        let f = fenced_instances(&annotated(&[(
            CNPG_ANNOTATION_FENCED_INSTANCES,
            r#"["*"]"#,
        )]));
        assert!(f.all && f.contains("pg-3"));
        let f = fenced_instances(&annotated(&[
            (ANNOTATION_FENCED_INSTANCES, r#"["pg-1"]"#),
            (CNPG_ANNOTATION_FENCED_INSTANCES, r#"["pg-3"]"#),
        ]));
        assert_eq!(f.instances.len(), 2);
        assert_eq!(fenced_instances(&stored_cluster(1)), Fenced::default());
    }

    #[test]
    fn a_malformed_annotation_fences_nothing_and_says_why() {
        let f = fenced_instances(&annotated(&[(ANNOTATION_FENCED_INSTANCES, "pg-1")]));
        assert!(!f.contains("pg-1"));
        assert!(
            f.malformed
                .expect("reported")
                .contains(ANNOTATION_FENCED_INSTANCES)
        );
    }
}
