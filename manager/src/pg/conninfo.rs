//! libpq connection strings (`key=value key='quoted value'`), built from parameter pairs. Pure and
//! dependent on nothing else in the crate, so the configuration, the role files and pg_rewind can
//! all build connection strings without depending on each other.

/// Renders `key=value` pairs as a libpq connection string, in the order given, quoting values
/// that are empty or hold whitespace, quotes or backslashes. Pure.
pub fn render<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", k.as_ref(), quote(v.as_ref())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes one value for a connection string when it needs it. Pure.
pub fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| !c.is_whitespace() && c != '\'' && c != '\\')
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// The TLS file parameters (`sslcert`, `sslkey`, `sslrootcert`) that are set, as pairs to append
/// after the other parameters. Pure.
pub fn tls_files(
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
    root_cert: Option<&std::path::Path>,
) -> Vec<(&'static str, String)> {
    [
        ("sslcert", cert),
        ("sslkey", key),
        ("sslrootcert", root_cert),
    ]
    .into_iter()
    .filter_map(|(k, p)| p.map(|p| (k, p.display().to_string())))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_quoting() {
        for (value, want) in [
            ("10.0.0.1", "10.0.0.1"),
            ("my app", "'my app'"),
            ("", "''"),
            ("it's", r"'it\'s'"),
            (r"a\b", r"'a\\b'"),
            ("tab\there", "'tab\there'"),
        ] {
            assert_eq!(quote(value), want, "{value:?}");
        }
    }

    #[test]
    fn renders_pairs_in_order_with_the_tls_files_that_are_set() {
        let files = tls_files(
            Some(std::path::Path::new("/c/tls.crt")),
            None,
            Some(std::path::Path::new("/c/ca dir/ca.crt")),
        );
        let pairs = [("host", "h".to_string()), ("user", "u".to_string())]
            .into_iter()
            .chain(files);
        assert_eq!(
            render(pairs),
            "host=h user=u sslcert=/c/tls.crt sslrootcert='/c/ca dir/ca.crt'"
        );
        assert_eq!(render(Vec::<(&str, &str)>::new()), "");
    }
}
