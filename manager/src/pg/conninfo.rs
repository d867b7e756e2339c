//! libpq connection strings (`key=value key='quoted value'`), built from parameter pairs and read
//! back into them. Pure and dependent on nothing else in the crate, so the configuration, the role
//! files and pg_rewind can all build connection strings without depending on each other.

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

/// Why a connection string could not be read back into parameter pairs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConninfoError {
    /// A keyword is not followed by `=`.
    #[error("connection string: {keyword:?} is not followed by \"=\"")]
    MissingEquals {
        /// The keyword.
        keyword: String,
    },
    /// A quoted value has no closing quote.
    #[error("connection string: the value of {keyword:?} has no closing quote")]
    UnterminatedQuote {
        /// The keyword.
        keyword: String,
    },
}

/// Reads a connection string in libpq's `key=value` form (whitespace around `=` allowed, values
/// single-quoted or not, `\` escaping the next character) into its pairs, in order: the inverse
/// of [`render`], so a rendered string can be amended (a `hostaddr` added) and rendered again.
/// URIs (`postgresql://…`) are not read: the manager never writes them. Pure.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, ConninfoError> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut keyword = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            keyword.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            return Err(ConninfoError::MissingEquals { keyword });
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(ConninfoError::UnterminatedQuote { keyword }),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(ConninfoError::UnterminatedQuote { keyword }),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((keyword, value));
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

    #[test]
    fn parses_what_it_renders() {
        let pairs: Vec<(String, String)> = [
            ("host", "pg-rw"),
            ("application_name", "my app"),
            ("password", ""),
            ("options", r"it's a\b"),
            ("sslrootcert", "/c/ca dir/ca.crt"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(parse(&render(pairs.clone())).as_ref(), Ok(&pairs));
        assert_eq!(parse("  "), Ok(vec![]));
    }

    #[test]
    fn parses_what_libpq_accepts_and_refuses_what_it_refuses() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            parse("host = pg-rw port=5432 dbname='' user=a\\ b"),
            Ok(vec![
                pair("host", "pg-rw"),
                pair("port", "5432"),
                pair("dbname", ""),
                pair("user", "a b"),
            ])
        );
        assert_eq!(
            parse("host pg-rw"),
            Err(ConninfoError::MissingEquals {
                keyword: "host".into()
            })
        );
        assert_eq!(
            parse("host='pg-rw"),
            Err(ConninfoError::UnterminatedQuote {
                keyword: "host".into()
            })
        );
    }
}
