//! The failover quorum (`postgresql.synchronous.failoverQuorum`, CloudNativePG 1.28): a standby
//! may be promoted only when the reachable candidates must include one that acknowledged every
//! synchronous commit. With commits acknowledged by W of the N listed standbys, any R of those N
//! that are reachable include an acknowledging one when R + W > N.
//!
//! The record is built from what the primary itself reports it enforces (`SHOW
//! synchronous_standby_names`, parsed here with PostgreSQL's grammar), not from what the operator
//! pushed: a push the primary has not applied yet proves nothing. Pure.

use pgfed_api::cluster::SynchronousMethod;
use std::collections::BTreeSet;

/// What a primary enforced, as stored in the Cluster's `status.failoverQuorum`.
pub use pgfed_api::cluster::FailoverQuorumStatus as QuorumRecord;

/// A parsed `synchronous_standby_names`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandbyNames {
    /// `ANY` or `FIRST` (a bare list or `n (list)` is `FIRST`).
    pub method: SynchronousMethod,
    /// How many standbys a commit waits for.
    pub number: i32,
    /// The names as PostgreSQL compares them (quotes removed).
    pub names: Vec<String>,
}

/// Why a promotion is refused by the quorum rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumRefusal {
    /// The record says no commit waited for anyone: nothing can be proved.
    #[error("the failover quorum record of {primary:?} lists no synchronous standby")]
    Empty {
        /// The primary that wrote it.
        primary: String,
    },
    /// Too few of the listed standbys are reachable.
    #[error(
        "only {reachable} of the {listed} synchronous standbys are reachable and commits waited for {number}: promoting could lose acknowledged commits (R + W > N needs {reachable} + {number} > {listed})"
    )]
    TooFewReachable {
        /// R.
        reachable: usize,
        /// W.
        number: i32,
        /// N.
        listed: usize,
    },
}

/// Whether promoting one of `reachable` is safe under `record` (R + W > N). Pure.
pub fn promotion_allowed(
    record: &QuorumRecord,
    reachable: &BTreeSet<String>,
) -> Result<(), QuorumRefusal> {
    let listed: BTreeSet<&String> = record.standby_names.iter().collect();
    if record.standby_number <= 0 || listed.is_empty() {
        return Err(QuorumRefusal::Empty {
            primary: record.primary.clone(),
        });
    }
    let r = listed.iter().filter(|n| reachable.contains(**n)).count();
    let (Ok(w), n) = (usize::try_from(record.standby_number), listed.len()) else {
        return Err(QuorumRefusal::Empty {
            primary: record.primary.clone(),
        });
    };
    if r + w > n {
        Ok(())
    } else {
        Err(QuorumRefusal::TooFewReachable {
            reachable: r,
            number: record.standby_number,
            listed: n,
        })
    }
}

/// The record of what `primary` enforces, from its `synchronous_standby_names`; `None` when it
/// enforces nothing (empty, or unreadable). The primary's own name is left out: it is never a
/// candidate for its own failover. Pure.
pub fn record(primary: &str, enforced: &str) -> Option<QuorumRecord> {
    let parsed = parse_standby_names(enforced)?;
    Some(QuorumRecord {
        method: parsed.method,
        standby_number: parsed.number,
        standby_names: parsed.names.into_iter().filter(|n| n != primary).collect(),
        primary: primary.to_string(),
    })
}

/// One token of the grammar.
#[derive(Debug, PartialEq)]
enum Token {
    /// A quoted or plain name, or `*`.
    Name(String),
    /// Digits: the number of standbys, or a standby's name in a list.
    Number(String),
    /// `ANY` or `FIRST`, unquoted (in any case): keywords, never names.
    Method(SynchronousMethod),
    Open,
    Close,
    Comma,
}

fn tokens(value: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' => {
                chars.next();
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '"' => {
                chars.next();
                let mut name = String::new();
                loop {
                    match chars.next()? {
                        '"' if chars.peek() == Some(&'"') => {
                            chars.next();
                            name.push('"');
                        }
                        '"' => break,
                        c => name.push(c),
                    }
                }
                out.push(Token::Name(name));
            }
            '*' => {
                chars.next();
                out.push(Token::Name("*".into()));
            }
            c if c.is_ascii_digit() => {
                let mut digits = String::new();
                while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(d);
                    chars.next();
                }
                out.push(Token::Number(digits));
            }
            c if c.is_alphabetic() || c == '_' || !c.is_ascii() => {
                let mut word = String::new();
                while let Some(&d) = chars
                    .peek()
                    .filter(|d| d.is_alphanumeric() || **d == '_' || **d == '$' || !d.is_ascii())
                {
                    word.push(d);
                    chars.next();
                }
                out.push(if word.eq_ignore_ascii_case("any") {
                    Token::Method(SynchronousMethod::Any)
                } else if word.eq_ignore_ascii_case("first") {
                    Token::Method(SynchronousMethod::First)
                } else {
                    Token::Name(word)
                });
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `a, b, c` up to the end of `tokens`.
fn name_list(tokens: &[Token]) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match (i % 2, t) {
            (0, Token::Name(n) | Token::Number(n)) => names.push(n.clone()),
            (1, Token::Comma) => {}
            _ => return None,
        }
    }
    (!names.is_empty() && tokens.len() % 2 == 1).then_some(names)
}

/// Parses `synchronous_standby_names` as PostgreSQL does: `ANY n (list)`, `FIRST n (list)`,
/// `n (list)` (priority) or a bare list (`FIRST 1`). Keywords are case-insensitive; names are
/// identifiers, `*` or double-quoted. `None` for an empty value (asynchronous) or one PostgreSQL
/// would refuse. Pure.
pub fn parse_standby_names(value: &str) -> Option<StandbyNames> {
    let tokens = tokens(value)?;
    let (method, number, list) = match tokens.as_slice() {
        [
            Token::Method(m),
            Token::Number(n),
            Token::Open,
            list @ ..,
            Token::Close,
        ] => (*m, n, list),
        [Token::Number(n), Token::Open, list @ .., Token::Close] => {
            (SynchronousMethod::First, n, list)
        }
        list => {
            return Some(StandbyNames {
                method: SynchronousMethod::First,
                number: 1,
                names: name_list(list)?,
            });
        }
    };
    Some(StandbyNames {
        method,
        number: number.parse().ok()?,
        names: name_list(list)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn standby_names_parse_as_postgres_reads_them() {
        use SynchronousMethod::{Any, First};
        type Parsed<'a> = Option<(SynchronousMethod, i32, &'a [&'a str])>;
        let cases: &[(&str, Parsed)] = &[
            (r#"ANY 2 ("a","b")"#, Some((Any, 2, &["a", "b"]))),
            (
                r#"any 1 ("pg-2", "pg-3", "pg-1")"#,
                Some((Any, 1, &["pg-2", "pg-3", "pg-1"])),
            ),
            ("FIRST 1 (a, b)", Some((First, 1, &["a", "b"]))),
            (
                "First 3 (s1,s2,s3,s4)",
                Some((First, 3, &["s1", "s2", "s3", "s4"])),
            ),
            ("2 (a,b)", Some((First, 2, &["a", "b"]))),
            ("a, b", Some((First, 1, &["a", "b"]))),
            ("a", Some((First, 1, &["a"]))),
            ("*", Some((First, 1, &["*"]))),
            ("ANY 1 (*)", Some((Any, 1, &["*"]))),
            (
                r#"ANY 1 ("we""ird", Mixed_Case$1)"#,
                Some((Any, 1, &["we\"ird", "Mixed_Case$1"])),
            ),
            // digits name standbys in a list; the keywords name none unless quoted.
            ("1, 2", Some((First, 1, &["1", "2"]))),
            (r#"ANY 1 ("any", 2)"#, Some((Any, 1, &["any", "2"]))),
            ("any, first", None),
            ("ANY 99999999999 (a)", None),
            ("", None),
            ("   ", None),
            ("ANY (a)", None),
            ("ANY 1 (a", None),
            ("ANY 1 ()", None),
            ("a,, b", None),
            ("a b", None),
            ("1 2 (a)", None),
            (r#""unterminated"#, None),
            ("ANY 1 (a) b", None),
            ("a-b", None),
        ];
        for (value, want) in cases {
            let got = parse_standby_names(value);
            let want = want.map(|(method, number, list)| StandbyNames {
                method,
                number,
                names: names(list),
            });
            assert_eq!(got, want, "{value:?}");
        }
    }

    #[test]
    fn the_record_leaves_the_primary_out() {
        let r = record("pg-1", r#"ANY 1 ("pg-2","pg-3","pg-1")"#).expect("record");
        assert_eq!(r.standby_names, names(&["pg-2", "pg-3"]));
        assert_eq!((r.method, r.standby_number), (SynchronousMethod::Any, 1));
        assert_eq!(r.primary, "pg-1");
        assert_eq!(record("pg-1", ""), None);
    }

    #[test]
    fn promotion_needs_r_plus_w_above_n() {
        let rec = |number: i32, list: &[&str]| QuorumRecord {
            method: SynchronousMethod::Any,
            standby_number: number,
            standby_names: names(list),
            primary: "pg-1".into(),
        };
        // (record, reachable, allowed)
        let cases: &[(QuorumRecord, &[&str], bool)] = &[
            // W=1 of N=2: both must be reachable.
            (rec(1, &["pg-2", "pg-3"]), &["pg-2", "pg-3"], true),
            (rec(1, &["pg-2", "pg-3"]), &["pg-2"], false),
            // W=2 of N=2: any one holds everything.
            (rec(2, &["pg-2", "pg-3"]), &["pg-3"], true),
            (rec(2, &["pg-2", "pg-3"]), &[], false),
            // W=2 of N=4: three needed; someone reachable but not listed does not count.
            (rec(2, &["a", "b", "c", "d"]), &["a", "b", "c"], true),
            (rec(2, &["a", "b", "c", "d"]), &["a", "b", "x"], false),
            // W=1 of N=1.
            (rec(1, &["pg-2"]), &["pg-2"], true),
            // nothing was synchronous: nothing can be proved.
            (rec(0, &["pg-2"]), &["pg-2"], false),
            (rec(1, &[]), &["pg-2"], false),
        ];
        for (record, reachable, allowed) in cases {
            let reachable: BTreeSet<String> = reachable.iter().map(|s| s.to_string()).collect();
            let got = promotion_allowed(record, &reachable);
            assert_eq!(got.is_ok(), *allowed, "{record:?} {reachable:?}: {got:?}");
        }
        let err = promotion_allowed(&rec(1, &["pg-2", "pg-3"]), &BTreeSet::from(["pg-2".into()]))
            .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "only 1 of the 2 synchronous standbys are reachable and commits waited for 1: promoting could lose acknowledged commits (R + W > N needs 1 + 1 > 2)"
        );
    }
}
