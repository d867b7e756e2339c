//! Reading the one named object a command is about, with errors that say which object in which
//! namespace and what to do when it is not there.

use kube::api::Api;
use serde::de::DeserializeOwned;
use std::fmt;

/// The object a command reads, as its messages name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// What users call it (`cluster`).
    pub kind: &'static str,
    /// What `kubectl get` lists it by (`clusters.pgfed.io`: a bare `clusters` may be another
    /// operator's).
    pub resource: &'static str,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Why the object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// It does not exist.
    #[error(
        "{} {} not found in namespace {}: list them with `kubectl get {} -n {}`",
        .0.kind, .0.name, .0.namespace, .0.resource, .0.namespace
    )]
    NotFound(ObjectRef),
    /// An API call about it failed.
    #[error("{doing} {object}: {source}")]
    Api {
        /// What was being done (`reading`).
        doing: &'static str,
        /// The object.
        object: ObjectRef,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}

impl ObjectRef {
    /// The error of a failed API call about this object, `doing` saying what the call was.
    pub fn api_error(&self, doing: &'static str) -> impl FnOnce(kube::Error) -> LookupError {
        let object = self.clone();
        move |source| LookupError::Api {
            doing,
            object,
            source,
        }
    }

    /// Reads the object through `api` (which must be namespaced to [`ObjectRef::namespace`]).
    pub async fn get<K>(&self, api: &Api<K>) -> Result<K, LookupError>
    where
        K: Clone + DeserializeOwned + fmt::Debug,
    {
        api.get_opt(&self.name)
            .await
            .map_err(self.api_error("reading"))?
            .ok_or_else(|| LookupError::NotFound(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_object_its_namespace_and_how_to_list_them() {
        let object = ObjectRef {
            kind: "federation",
            resource: "federations.pgfed.io",
            namespace: "demo".into(),
            name: "shop".into(),
        };
        assert_eq!(object.to_string(), "federation demo/shop");
        assert_eq!(
            LookupError::NotFound(object).to_string(),
            "federation shop not found in namespace demo: list them with `kubectl get federations.pgfed.io -n demo`"
        );
    }
}
