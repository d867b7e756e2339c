//! Barman's `backup.info`: `key=value` lines, Python literals for lists and strings. pgfed writes
//! what barman-cloud-restore reads and reads what barman-cloud-backup writes.
//!
//! Parsing and rendering only: the manager uploads and downloads the file, the operators read
//! backup times and WAL positions from its text, so everyone reads one catalog the same way.

use std::collections::BTreeMap;

/// A tablespace as Barman records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tablespace {
    /// Name.
    pub name: String,
    /// OID (the pg_tblspc symlink name).
    pub oid: u32,
    /// Directory.
    pub location: String,
}

/// The fields of a backup.info the manager uses; other fields are kept verbatim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupInfo {
    /// Every field, rendered as Barman writes it (`None` for null).
    pub fields: BTreeMap<String, String>,
}

/// A backup.info that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("backup.info: {0}")]
pub struct InfoError(pub String);

impl BackupInfo {
    /// Parses the file text.
    pub fn parse(text: &str) -> Result<Self, InfoError> {
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim_end();
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| InfoError(format!("invalid line {line:?}")))?;
            fields.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(BackupInfo { fields })
    }

    /// Renders the file text: keys sorted, like Barman.
    pub fn render(&self) -> String {
        self.fields
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }

    /// A field, `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .map(String::as_str)
            .filter(|v| *v != "None")
    }

    /// Sets a field; `None` writes Barman's null.
    pub fn set(&mut self, key: &str, value: Option<String>) {
        self.fields
            .insert(key.to_string(), value.unwrap_or_else(|| "None".to_string()));
    }

    /// `status` (DONE when usable).
    pub fn status(&self) -> Option<&str> {
        self.get("status")
    }

    /// The tablespaces, from Barman's Python list-of-tuples literal.
    pub fn tablespaces(&self) -> Result<Vec<Tablespace>, InfoError> {
        match self.get("tablespaces") {
            None => Ok(Vec::new()),
            Some(text) => parse_tablespaces(text),
        }
    }
}

/// Python `repr()` of a string, which `ast.literal_eval` reads back.
pub fn py_repr(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Renders tablespaces as Barman does: `[('name', oid, 'location'), ...]`, or `None`.
pub fn render_tablespaces(t: &[Tablespace]) -> Option<String> {
    if t.is_empty() {
        return None;
    }
    let items: Vec<String> = t
        .iter()
        .map(|t| {
            format!(
                "({}, {}, {})",
                py_repr(&t.name),
                t.oid,
                py_repr(&t.location)
            )
        })
        .collect();
    Some(format!("[{}]", items.join(", ")))
}

/// Reads Barman's tablespace list: tuples of (string, int, string), in any quoting Python uses.
pub fn parse_tablespaces(text: &str) -> Result<Vec<Tablespace>, InfoError> {
    let bad = |why: &str| InfoError(format!("tablespaces {text:?}: {why}"));
    let tokens = tokenize(text).map_err(|e| bad(&e))?;
    let mut out = Vec::new();
    let mut tuple: Vec<Token> = Vec::new();
    let mut in_tuple = false;
    for tok in tokens {
        match tok {
            Token::Open('(') => {
                in_tuple = true;
                tuple.clear();
            }
            Token::Close(')') => {
                in_tuple = false;
                match tuple.as_slice() {
                    [Token::Str(name), Token::Int(oid), Token::Str(location), ..] => {
                        out.push(Tablespace {
                            name: name.clone(),
                            oid: u32::try_from(*oid).map_err(|_| bad("oid out of range"))?,
                            location: location.clone(),
                        })
                    }
                    _ => return Err(bad("expected (name, oid, location)")),
                }
            }
            t @ (Token::Str(_) | Token::Int(_)) if in_tuple => tuple.push(t),
            _ => {}
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Open(char),
    Close(char),
    Str(String),
    Int(i64),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' | '(' => out.push(Token::Open(c)),
            ']' | ')' => out.push(Token::Close(c)),
            '\'' | '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some(q) if q == c => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some(other) => s.push(other),
                            None => return Err("dangling escape".into()),
                        },
                        Some(ch) => s.push(ch),
                    }
                }
                out.push(Token::Str(s));
            }
            d if d.is_ascii_digit() => {
                let mut n = d.to_string();
                while let Some(&next) = chars.peek() {
                    if !next.is_ascii_digit() {
                        break;
                    }
                    n.push(next);
                    chars.next();
                }
                out.push(Token::Int(
                    n.parse().map_err(|_| "bad integer".to_string())?,
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tablespaces_round_trip_and_read_barman_forms() {
        let t = vec![
            Tablespace {
                name: "tbs1".into(),
                oid: 16385,
                location: "/var/lib/tbs1".into(),
            },
            Tablespace {
                name: "it's".into(),
                oid: 16390,
                location: "/x".into(),
            },
        ];
        let text = render_tablespaces(&t).expect("some");
        assert_eq!(
            text,
            r"[('tbs1', 16385, '/var/lib/tbs1'), ('it\'s', 16390, '/x')]"
        );
        assert_eq!(parse_tablespaces(&text).expect("parse"), t);
        let barman = r#"[("it's", 16390, '/x')]"#;
        assert_eq!(parse_tablespaces(barman).expect("parse")[0].name, "it's");
        assert!(parse_tablespaces("[('a', 'b')]").is_err());
        assert_eq!(render_tablespaces(&[]), None);
    }

    #[test]
    fn fields_and_nulls() {
        let text = "backup_label='START WAL LOCATION: 0/2000028\\n'\nerror=None\nstatus=DONE\ntablespaces=None\n";
        let info = BackupInfo::parse(text).expect("parse");
        assert_eq!(info.status(), Some("DONE"));
        assert_eq!(info.get("error"), None);
        assert!(info.tablespaces().expect("ts").is_empty());
        assert_eq!(info.render(), text);
        assert!(BackupInfo::parse("no equals sign").is_err());
        assert_eq!(py_repr("a\nb'c\\"), r"'a\nb\'c\\'");
    }
}
