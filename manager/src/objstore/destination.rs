//! Reads a `barmanObjectStore.destinationPath` into the provider it names and where inside it,
//! the way barman-cloud reads it. Pure: no store is opened here.

use super::StoreError;
use pgfed_api::barman::BarmanObjectStoreConfiguration;

/// Which kind of store a `destinationPath` names, and where inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `s3://bucket/prefix`.
    S3 { bucket: String, prefix: String },
    /// `gs://bucket/prefix`.
    Gcs { bucket: String, prefix: String },
    /// `https://<account>.blob.core.windows.net/<container>/prefix`, `azure://container/prefix`
    /// (account from the credentials; endpoint from `endpointURL`), or, like barman-cloud, any
    /// other host in the emulator (Azurite) shape `http[s]://host[:port]/<account>/<container>/prefix`.
    Azure {
        account: Option<String>,
        container: String,
        prefix: String,
        /// The blob service endpoint the path names, when it is not the public cloud's default
        /// (`http://host:port/<account>` for an emulator).
        endpoint: Option<String>,
    },
    /// `file:///directory/prefix`.
    Local { dir: String },
}

/// Parses a `destinationPath`. Pure.
pub fn parse_destination(url: &str) -> Result<Destination, StoreError> {
    let bad = || StoreError::BadDestination(url.to_string());
    let split = |rest: &str| -> (String, String) {
        let rest = rest.trim_matches('/');
        match rest.split_once('/') {
            Some((a, b)) => (a.to_string(), b.trim_matches('/').to_string()),
            None => (rest.to_string(), String::new()),
        }
    };
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = split(rest);
        if bucket.is_empty() {
            return Err(bad());
        }
        return Ok(Destination::S3 { bucket, prefix });
    }
    if let Some(rest) = url.strip_prefix("gs://") {
        let (bucket, prefix) = split(rest);
        if bucket.is_empty() {
            return Err(bad());
        }
        return Ok(Destination::Gcs { bucket, prefix });
    }
    if let Some(rest) = url.strip_prefix("azure://") {
        let (container, prefix) = split(rest);
        if container.is_empty() {
            return Err(bad());
        }
        return Ok(Destination::Azure {
            account: None,
            container,
            prefix,
            endpoint: None,
        });
    }
    let http = url
        .strip_prefix("https://")
        .map(|rest| ("https", rest))
        .or_else(|| url.strip_prefix("http://").map(|rest| ("http", rest)));
    if let Some((scheme, rest)) = http {
        let (host, path) = split(rest);
        if host.is_empty() {
            return Err(bad());
        }
        if let Some(account) = host.strip_suffix(".blob.core.windows.net") {
            let (container, prefix) = split(&path);
            if container.is_empty() {
                return Err(bad());
            }
            return Ok(Destination::Azure {
                account: Some(account.to_string()),
                container,
                prefix,
                endpoint: None,
            });
        }
        // barman-cloud reads every other host as an emulator: the account is the first path
        // segment and part of the endpoint (path-style addressing).
        let (account, rest) = split(&path);
        let (container, prefix) = split(&rest);
        if account.is_empty() || container.is_empty() {
            return Err(bad());
        }
        return Ok(Destination::Azure {
            endpoint: Some(format!("{scheme}://{host}/{account}")),
            account: Some(account),
            container,
            prefix,
        });
    }
    if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(bad());
        }
        return Ok(Destination::Local {
            dir: rest.to_string(),
        });
    }
    Err(bad())
}

/// The Barman server name a configuration writes under: `serverName`, else `default_server` (the
/// cluster name). Pure.
pub fn server_name<'a>(
    cfg: &'a BarmanObjectStoreConfiguration,
    default_server: &'a str,
) -> &'a str {
    cfg.server_name.as_deref().unwrap_or(default_server)
}

/// Names one Barman server's area as a configuration reaches it: the endpoint, the
/// `destinationPath` and the server name (trailing slashes ignored). Two configurations with the
/// same identity read and write the same objects; bookkeeping about what was uploaded is only
/// valid for the identity it was recorded under. Pure.
pub fn server_identity(cfg: &BarmanObjectStoreConfiguration, default_server: &str) -> String {
    let endpoint = cfg.endpoint_url.as_deref().unwrap_or("");
    format!(
        "endpoint={}\ndestinationPath={}\nserverName={}\n",
        endpoint.trim_end_matches('/'),
        cfg.destination_path.trim_end_matches('/'),
        server_name(cfg, default_server)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let s3 = |b: &str, p: &str| Destination::S3 {
            bucket: b.into(),
            prefix: p.into(),
        };
        let cases = [
            ("s3://bucket", Some(s3("bucket", ""))),
            ("s3://bucket/", Some(s3("bucket", ""))),
            ("s3://bucket/a/b/", Some(s3("bucket", "a/b"))),
            (
                "gs://g/x",
                Some(Destination::Gcs {
                    bucket: "g".into(),
                    prefix: "x".into(),
                }),
            ),
            (
                "https://acct.blob.core.windows.net/cont/p/q",
                Some(Destination::Azure {
                    account: Some("acct".into()),
                    container: "cont".into(),
                    prefix: "p/q".into(),
                    endpoint: None,
                }),
            ),
            (
                "azure://cont",
                Some(Destination::Azure {
                    account: None,
                    container: "cont".into(),
                    prefix: String::new(),
                    endpoint: None,
                }),
            ),
            // Azurite / emulator shape, as barman-cloud and CloudNativePG document it.
            (
                "http://127.0.0.1:10000/devstoreaccount1/cont/p/q/",
                Some(Destination::Azure {
                    account: Some("devstoreaccount1".into()),
                    container: "cont".into(),
                    prefix: "p/q".into(),
                    endpoint: Some("http://127.0.0.1:10000/devstoreaccount1".into()),
                }),
            ),
            (
                "https://azurite.backup.svc:10000/acct/cont",
                Some(Destination::Azure {
                    account: Some("acct".into()),
                    container: "cont".into(),
                    prefix: String::new(),
                    endpoint: Some("https://azurite.backup.svc:10000/acct".into()),
                }),
            ),
            ("http://127.0.0.1:10000/devstoreaccount1", None),
            ("https://acct.blob.core.windows.net/", None),
            ("https:///acct/cont", None),
            (
                "file:///var/backups",
                Some(Destination::Local {
                    dir: "/var/backups".into(),
                }),
            ),
            ("s3://", None),
            ("file://relative", None),
            ("https://example.com/x", None),
            ("ftp://x/y", None),
        ];
        for (url, want) in cases {
            assert_eq!(parse_destination(url).ok(), want, "{url}");
        }
    }

    #[test]
    fn identities_differ_exactly_when_the_objects_do() {
        let cfg = |dest: &str, endpoint: Option<&str>, server: Option<&str>| {
            BarmanObjectStoreConfiguration {
                destination_path: dest.into(),
                endpoint_url: endpoint.map(str::to_string),
                server_name: server.map(str::to_string),
                ..Default::default()
            }
        };
        let base = server_identity(&cfg("s3://b/p", Some("http://m:9000"), None), "alpha");
        let cases = [
            (
                cfg("s3://b/p/", Some("http://m:9000/"), None),
                "alpha",
                true,
            ),
            (
                cfg("s3://b/p", Some("http://m:9000"), Some("alpha")),
                "beta",
                true,
            ),
            (cfg("s3://b/q", Some("http://m:9000"), None), "alpha", false),
            (
                cfg("s3://other/p", Some("http://m:9000"), None),
                "alpha",
                false,
            ),
            (cfg("s3://b/p", Some("http://n:9000"), None), "alpha", false),
            (cfg("s3://b/p", None, None), "alpha", false),
            (cfg("s3://b/p", Some("http://m:9000"), None), "beta", false),
            (
                cfg("s3://b/p", Some("http://m:9000"), Some("gamma")),
                "alpha",
                false,
            ),
        ];
        for (c, default_server, same) in cases {
            assert_eq!(
                server_identity(&c, default_server) == base,
                same,
                "{c:?} {default_server}"
            );
        }
    }
}
