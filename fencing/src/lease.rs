//! What the fencing lease object holds, and how each write changes it. Pure: no store, no clock
//! (the caller passes the wall-clock time written as `renewedAt`).
//!
//! Every write moves `(epoch, renewals)` strictly forward — a renewal adds one to `renewals`, a
//! takeover adds one to `epoch` and starts `renewals` again at zero — so no two writes in a
//! lease's history store the same content. That matters on S3-compatible stores whose ETag is a
//! digest of the content: a conditional write against an old ETag can never match a newer object
//! that happens to look the same.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The object layout this program writes and understands. A reader refuses a higher one rather
/// than guess at fields it does not know.
pub const FORMAT_VERSION: u32 = 1;

/// The content of the fencing lease object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// Layout of this object ([`FORMAT_VERSION`] when this program wrote it).
    pub format_version: u32,
    /// Which federation the lease belongs to, e.g. `<namespace>/<name>/<uid>`, so a lease left by
    /// a deleted federation of the same name is recognised as someone else's.
    pub federation: String,
    /// The member that may accept writes.
    pub holder: String,
    /// Raised by one on every takeover; a holder that sees a higher epoch than its own has lost.
    pub epoch: u64,
    /// Raised by one on every renewal within an epoch, so an observer sees the holder is alive
    /// without comparing clocks.
    pub renewals: u64,
    /// How long the holder keeps accepting writes after the start of a renewal that succeeded.
    pub duration_seconds: u64,
    /// When the holder last wrote, on its own clock. Informational only: nobody compares clocks
    /// across machines.
    pub renewed_at: DateTime<Utc>,
}

/// Only the layout version, read before the rest so a newer layout is reported as such rather
/// than as a malformed lease.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FormatProbe {
    format_version: u32,
}

/// Why some bytes are not a lease this program can use.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or JSON without the lease's fields.
    #[error("not a fencing lease: {0}")]
    NotALease(#[source] serde_json::Error),
    /// A lease written in a newer layout.
    #[error(
        "fencing lease format {found} is newer than this program understands ({FORMAT_VERSION})"
    )]
    NewerFormat {
        /// The layout found.
        found: u32,
    },
}

impl Lease {
    /// The first lease of a federation, held by `holder` at epoch 1.
    pub fn first(federation: &str, holder: &str, duration: Duration, now: DateTime<Utc>) -> Lease {
        Lease {
            format_version: FORMAT_VERSION,
            federation: federation.to_string(),
            holder: holder.to_string(),
            epoch: 1,
            renewals: 0,
            duration_seconds: duration.as_secs(),
            renewed_at: now,
        }
    }

    /// The same holder and epoch, one renewal later.
    pub fn renewed(&self, now: DateTime<Utc>) -> Lease {
        Lease {
            format_version: FORMAT_VERSION,
            // Saturating only to have no panic path: 2^64 renewals is out of reach.
            renewals: self.renewals.saturating_add(1),
            renewed_at: now,
            ..self.clone()
        }
    }

    /// The lease handed to `holder` by `federation`: the next epoch, no renewals yet. The epoch
    /// moves on even when the holder's name is unchanged, so an earlier incarnation of that member
    /// still renewing at the old epoch finds it has lost.
    pub fn taken_over(
        &self,
        federation: &str,
        holder: &str,
        duration: Duration,
        now: DateTime<Utc>,
    ) -> Lease {
        Lease {
            format_version: FORMAT_VERSION,
            federation: federation.to_string(),
            holder: holder.to_string(),
            // Saturating only to have no panic path: 2^64 takeovers is out of reach.
            epoch: self.epoch.saturating_add(1),
            renewals: 0,
            duration_seconds: duration.as_secs(),
            renewed_at: now,
        }
    }

    /// Whether this lease is `holder`'s, in `federation`, at `epoch`.
    pub fn is_held_by(&self, federation: &str, holder: &str, epoch: u64) -> bool {
        self.federation == federation && self.holder == holder && self.epoch == epoch
    }

    /// How long the holder keeps accepting writes after a renewal starts.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_seconds)
    }

    /// The object's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec_pretty(self)
    }

    /// Reads a lease from the object's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Lease, DecodeError> {
        let probe: FormatProbe = serde_json::from_slice(bytes).map_err(DecodeError::NotALease)?;
        if probe.format_version > FORMAT_VERSION {
            return Err(DecodeError::NewerFormat {
                found: probe.format_version,
            });
        }
        serde_json::from_slice(bytes).map_err(DecodeError::NotALease)
    }
}

/// The store's identity of one written version of the object (its ETag and, where the store
/// keeps versions, the version id), which a conditional write must still match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The object's ETag.
    pub e_tag: Option<String>,
    /// The object's version id, on stores that keep versions (GCS generations).
    pub version: Option<String>,
}

impl Version {
    /// A version from what the store reported; `None` when it reported nothing to match against.
    pub fn new(e_tag: Option<String>, version: Option<String>) -> Option<Version> {
        (e_tag.is_some() || version.is_some()).then_some(Version { e_tag, version })
    }
}

/// A lease together with the version of the object that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The lease.
    pub lease: Lease,
    /// The object version that holds it; the next write must match it.
    pub version: Version,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
            + chrono::Duration::days(20_000)
            + chrono::Duration::seconds(seconds)
    }

    fn thirty() -> Duration {
        Duration::from_secs(30)
    }

    #[test]
    fn transitions() {
        let first = Lease::first("ns/fed/uid", "east", thirty(), at(0));
        let renewed = first.renewed(at(10)).renewed(at(20));
        let taken = renewed.taken_over("ns/fed/uid", "west", Duration::from_secs(45), at(90));
        let retaken = taken.taken_over("ns/fed/uid", "west", thirty(), at(95));
        // (case, lease, holder, epoch, renewals, duration, renewedAt)
        let cases = [
            ("first", &first, "east", 1, 0, 30, at(0)),
            ("two renewals", &renewed, "east", 1, 2, 30, at(20)),
            ("taken over", &taken, "west", 2, 0, 45, at(90)),
            (
                "taken over by the same name",
                &retaken,
                "west",
                3,
                0,
                30,
                at(95),
            ),
        ];
        for (case, lease, holder, epoch, renewals, duration, renewed_at) in cases {
            assert_eq!(lease.holder, holder, "{case}");
            assert_eq!(lease.epoch, epoch, "{case}");
            assert_eq!(lease.renewals, renewals, "{case}");
            assert_eq!(lease.duration_seconds, duration, "{case}");
            assert_eq!(lease.renewed_at, renewed_at, "{case}");
            assert_eq!(lease.format_version, FORMAT_VERSION, "{case}");
        }
    }

    #[test]
    fn a_takeover_claims_a_foreign_lease_for_this_federation() {
        let old = Lease::first("ns/fed/old-uid", "east", thirty(), at(0));
        let taken = old.taken_over("ns/fed/new-uid", "west", thirty(), at(5));
        assert_eq!(taken.federation, "ns/fed/new-uid");
        assert_eq!(taken.epoch, 2, "epochs keep rising across incarnations");
    }

    #[test]
    fn ownership() {
        let lease = Lease::first("f", "east", thirty(), at(0));
        // (case, federation, holder, epoch, expected)
        let cases = [
            ("ours", "f", "east", 1, true),
            ("another holder", "f", "west", 1, false),
            ("another epoch", "f", "east", 2, false),
            ("another federation", "g", "east", 1, false),
        ];
        for (case, federation, holder, epoch, expected) in cases {
            assert_eq!(
                lease.is_held_by(federation, holder, epoch),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn round_trip_and_field_names() {
        let lease = Lease::first("ns/fed/uid", "east", thirty(), at(0)).renewed(at(3));
        let bytes = lease.encode().expect("encode");
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(json["formatVersion"], 1);
        assert_eq!(json["federation"], "ns/fed/uid");
        assert_eq!(json["holder"], "east");
        assert_eq!(json["epoch"], 1);
        assert_eq!(json["renewals"], 1);
        assert_eq!(json["durationSeconds"], 30);
        assert_eq!(json["renewedAt"], "2024-10-04T00:00:03Z");
        assert_eq!(Lease::decode(&bytes).expect("a lease"), lease);
    }

    #[test]
    fn decoding_refusals() {
        // (case, bytes, expected: Some(newer format found) or None for "not a lease")
        let cases: [(&str, &[u8], Option<u32>); 5] = [
            ("not JSON", b"PGDMP\x00", None),
            ("JSON but not a lease", br#"{"hello": "world"}"#, None),
            ("a lease without its holder", br#"{"formatVersion": 1, "federation": "f", "epoch": 1, "renewals": 0, "durationSeconds": 30, "renewedAt": "2024-10-04T00:00:03Z"}"#, None),
            ("a negative epoch", br#"{"formatVersion": 1, "federation": "f", "holder": "h", "epoch": -1, "renewals": 0, "durationSeconds": 30, "renewedAt": "2024-10-04T00:00:03Z"}"#, None),
            ("a newer layout", br#"{"formatVersion": 2, "owner": "h"}"#, Some(2)),
        ];
        for (case, bytes, expected) in cases {
            match (Lease::decode(bytes), expected) {
                (Err(DecodeError::NotALease(_)), None) => {}
                (Err(DecodeError::NewerFormat { found }), Some(want)) => {
                    assert_eq!(found, want, "{case}")
                }
                (other, _) => panic!("{case}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn a_version_needs_something_to_match() {
        assert_eq!(Version::new(None, None), None);
        assert!(Version::new(Some("\"abc\"".into()), None).is_some());
        assert!(Version::new(None, Some("17".into())).is_some());
    }
}
