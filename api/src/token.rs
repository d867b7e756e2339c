//! The demotion/promotion token exchanged between a demoted primary cluster and the replica cluster
//! that takes over. The wire format is CloudNativePG's (base64 of a JSON object with pg_controldata
//! fields) so tokens are interchangeable; checking a token against a replica is a pure function here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// What a cleanly shut-down primary tells its successor: the exact point the successor must have
/// replayed to before it may promote.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct DemotionToken {
    /// `Database system identifier` from pg_controldata.
    #[serde(rename = "databaseSystemIdentifier")]
    pub system_identifier: String,
    /// `Latest checkpoint's TimeLineID`.
    #[serde(rename = "latestCheckpointTimelineID")]
    pub timeline: String,
    /// `Latest checkpoint's REDO location`, e.g. `0/5000028`.
    #[serde(rename = "latestCheckpointREDOLocation")]
    pub redo_location: String,
    /// `Latest checkpoint's REDO WAL file`.
    #[serde(rename = "redoWalFile")]
    pub redo_wal_file: String,
    /// `Time of latest checkpoint`.
    #[serde(rename = "timeOfLatestCheckpoint")]
    pub time_of_latest_checkpoint: String,
    /// Version of the operator that produced the token.
    #[serde(rename = "operatorVersion", default)]
    pub operator_version: String,
}

/// Why a token could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum TokenDecodeError {
    /// The token is not valid base64.
    #[error("promotion token is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The decoded bytes are not the expected JSON document.
    #[error("promotion token is not a JSON demotion token: {0}")]
    Json(#[from] serde_json::Error),
}

impl DemotionToken {
    /// Encodes the token as CloudNativePG does: base64 (standard alphabet) of the JSON document.
    pub fn encode(&self) -> String {
        // Serializing a struct of strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        STANDARD.encode(json)
    }

    /// Decodes a token produced by [`DemotionToken::encode`] or by CloudNativePG.
    pub fn decode(token: &str) -> Result<Self, TokenDecodeError> {
        let bytes = STANDARD.decode(token.trim())?;
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// What the promoting replica observes of itself after a restartpoint (from pg_controldata).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaCheckpoint {
    /// `Database system identifier`.
    pub system_identifier: String,
    /// `Latest checkpoint's TimeLineID`.
    pub timeline: u32,
    /// `Latest checkpoint's REDO location`.
    pub redo_location: crate::lsn::Lsn,
}

/// The outcome of comparing a promotion token with the replica that should promote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromotionDecision {
    /// The replica is exactly at the demoted primary's shutdown checkpoint: promote now.
    Promote,
    /// The replica has not replayed far enough yet; check again later. Never promote early.
    Wait(String),
    /// Promoting would lose or fork data; the token does not belong to this replica.
    Refuse(String),
}

/// Decides whether a replica may promote against `token`. Pure: the caller supplies pg_controldata.
pub fn check_promotion(token: &DemotionToken, replica: &ReplicaCheckpoint) -> PromotionDecision {
    use PromotionDecision::*;
    if token.system_identifier != replica.system_identifier {
        return Refuse(format!(
            "token system identifier {} differs from this cluster's {}",
            token.system_identifier, replica.system_identifier
        ));
    }
    let token_tli: u32 = match token.timeline.trim().parse() {
        Ok(t) => t,
        Err(_) => {
            return Refuse(format!(
                "token timeline {:?} is not a number",
                token.timeline
            ));
        }
    };
    let token_redo: crate::lsn::Lsn = match token.redo_location.parse() {
        Ok(l) => l,
        Err(e) => return Refuse(format!("token REDO location: {e}")),
    };
    if token_tli > replica.timeline {
        return Wait(format!(
            "replica is on timeline {}, token is on timeline {token_tli}",
            replica.timeline
        ));
    }
    if token_tli < replica.timeline {
        return Refuse(format!(
            "replica is already on timeline {}, past the token's timeline {token_tli}",
            replica.timeline
        ));
    }
    match replica.redo_location.cmp(&token_redo) {
        std::cmp::Ordering::Less => Wait(format!(
            "replica checkpoint REDO {} has not reached the token's {token_redo}",
            replica.redo_location
        )),
        std::cmp::Ordering::Greater => Refuse(format!(
            "replica checkpoint REDO {} is past the token's {token_redo}: it has WAL the demoted primary never wrote",
            replica.redo_location
        )),
        std::cmp::Ordering::Equal => Promote,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> DemotionToken {
        DemotionToken {
            system_identifier: "7301234567890123456".into(),
            timeline: "2".into(),
            redo_location: "0/6000028".into(),
            redo_wal_file: "000000020000000000000006".into(),
            time_of_latest_checkpoint: "Fri Nov 20 22:00:00 2026".into(),
            operator_version: "0.1.0".into(),
        }
    }

    fn replica(sysid: &str, tli: u32, redo: &str) -> ReplicaCheckpoint {
        ReplicaCheckpoint {
            system_identifier: sysid.into(),
            timeline: tli,
            redo_location: redo.parse().expect("lsn"),
        }
    }

    #[test]
    fn round_trip_and_cnpg_shape() {
        let t = token();
        let decoded = DemotionToken::decode(&t.encode()).expect("decode");
        assert_eq!(decoded, t);
        let json: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode(t.encode()).expect("b64")).expect("json");
        for key in [
            "databaseSystemIdentifier",
            "latestCheckpointTimelineID",
            "latestCheckpointREDOLocation",
            "redoWalFile",
            "timeOfLatestCheckpoint",
            "operatorVersion",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert!(DemotionToken::decode("not base64!").is_err());
        assert!(DemotionToken::decode(&STANDARD.encode("{}")).is_err());
    }

    #[test]
    fn promotion_decisions() {
        let t = token();
        let sysid = "7301234567890123456";
        let cases = [
            (replica(sysid, 2, "0/6000028"), "promote"),
            (replica(sysid, 2, "0/5000028"), "wait"),
            (replica(sysid, 1, "0/6000028"), "wait"),
            (replica(sysid, 2, "0/7000028"), "refuse"),
            (replica(sysid, 3, "0/6000028"), "refuse"),
            (replica("1111", 2, "0/6000028"), "refuse"),
        ];
        for (r, want) in cases {
            let got = match check_promotion(&t, &r) {
                PromotionDecision::Promote => "promote",
                PromotionDecision::Wait(_) => "wait",
                PromotionDecision::Refuse(_) => "refuse",
            };
            assert_eq!(got, want, "{r:?}");
        }
        let mut bad = token();
        bad.redo_location = "zzz".into();
        assert!(matches!(
            check_promotion(&bad, &replica(sysid, 2, "0/1")),
            PromotionDecision::Refuse(_)
        ));
    }
}
