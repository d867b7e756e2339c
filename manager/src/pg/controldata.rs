//! pg_controldata: run it and read the fields the manager decides on (system identifier, state,
//! timeline, checkpoint REDO location) — the same fields CloudNativePG's demotion token carries.

use super::PgError;
use pgfed_api::lsn::Lsn;
use pgfed_api::token::{DemotionToken, ReplicaCheckpoint};
use std::collections::BTreeMap;
use std::path::Path;

/// Parsed `pg_controldata` output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlData(pub BTreeMap<String, String>);

impl ControlData {
    /// Parses `Key:   value` lines. Pure.
    pub fn parse(text: &str) -> Self {
        ControlData(
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        )
    }

    /// A raw field.
    pub fn get(&self, key: &str) -> Result<&str, PgError> {
        self.0
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| PgError::ControlData(key.to_string()))
    }

    /// `Database system identifier`.
    pub fn system_identifier(&self) -> Result<&str, PgError> {
        self.get("Database system identifier")
    }

    /// `Database cluster state`.
    pub fn state(&self) -> Result<&str, PgError> {
        self.get("Database cluster state")
    }

    /// `Latest checkpoint's TimeLineID`.
    pub fn timeline(&self) -> Result<u32, PgError> {
        let key = "Latest checkpoint's TimeLineID";
        self.get(key)?
            .parse()
            .map_err(|_| PgError::ControlData(key.to_string()))
    }

    /// `Latest checkpoint's REDO location`.
    pub fn redo_location(&self) -> Result<Lsn, PgError> {
        let key = "Latest checkpoint's REDO location";
        self.get(key)?
            .parse()
            .map_err(|_| PgError::ControlData(key.to_string()))
    }

    /// `Latest checkpoint location`: where the checkpoint record itself is.
    pub fn checkpoint_location(&self) -> Result<Lsn, PgError> {
        let key = "Latest checkpoint location";
        self.get(key)?
            .parse()
            .map_err(|_| PgError::ControlData(key.to_string()))
    }

    /// `Minimum recovery ending location` with its timeline; `None` when unset (0/0), as on a
    /// primary or a standby shut down cleanly before it replayed anything.
    pub fn min_recovery_point(&self) -> Result<Option<(u32, Lsn)>, PgError> {
        let (key, tli_key) = (
            "Minimum recovery ending location",
            "Min recovery ending loc's timeline",
        );
        let lsn: Lsn = self
            .get(key)?
            .parse()
            .map_err(|_| PgError::ControlData(key.to_string()))?;
        let tli: u32 = self
            .get(tli_key)?
            .parse()
            .map_err(|_| PgError::ControlData(tli_key.to_string()))?;
        Ok((lsn.0 != 0).then_some((tli, lsn)))
    }

    /// `Bytes per WAL segment`.
    pub fn wal_segment_size(&self) -> Result<u64, PgError> {
        let key = "Bytes per WAL segment";
        self.get(key)?
            .parse()
            .map_err(|_| PgError::ControlData(key.to_string()))
    }

    /// True after a clean shutdown of a primary or a standby.
    pub fn is_shut_down(&self) -> bool {
        matches!(self.state(), Ok("shut down") | Ok("shut down in recovery"))
    }

    /// What a promoting replica compares with the token.
    pub fn replica_checkpoint(&self) -> Result<ReplicaCheckpoint, PgError> {
        Ok(ReplicaCheckpoint {
            system_identifier: self.system_identifier()?.to_string(),
            timeline: self.timeline()?,
            redo_location: self.redo_location()?,
        })
    }

    /// The demotion token of a cleanly shut-down primary.
    pub fn demotion_token(&self) -> Result<DemotionToken, PgError> {
        Ok(DemotionToken {
            system_identifier: self.system_identifier()?.to_string(),
            timeline: self.timeline()?.to_string(),
            redo_location: self.redo_location()?.to_string(),
            redo_wal_file: self.get("Latest checkpoint's REDO WAL file")?.to_string(),
            time_of_latest_checkpoint: self.get("Time of latest checkpoint")?.to_string(),
            operator_version: env!("CARGO_PKG_VERSION").to_string(),
        })
    }
}

/// Runs pg_controldata on `pgdata` with the C locale (field names are translated otherwise).
pub fn read(bindir: &Path, pgdata: &Path) -> Result<ControlData, PgError> {
    let program = bindir.join("pg_controldata");
    let out = std::process::Command::new(&program)
        .arg(pgdata)
        .env("LC_ALL", "C")
        .output()
        .map_err(|source| PgError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(PgError::Failed {
            program: format!("{} {}", program.display(), pgdata.display()),
            status: out.status.to_string(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(ControlData::parse(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "pg_control version number:            1300
Database system identifier:           7305066520178216273
Database cluster state:               shut down
Latest checkpoint location:           0/3000028
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's REDO WAL file:    000000020000000000000003
Latest checkpoint's TimeLineID:       2
Time of latest checkpoint:            Fri Nov 20 22:30:01 2026
Bytes per WAL segment:                16777216
Minimum recovery ending location:     0/0
Min recovery ending loc's timeline:   0
";

    #[test]
    fn parses_fields_and_builds_token() {
        let cd = ControlData::parse(SAMPLE);
        assert!(cd.is_shut_down());
        assert_eq!(cd.timeline().expect("tli"), 2);
        assert_eq!(cd.redo_location().expect("redo").to_string(), "0/3000028");
        assert_eq!(cd.wal_segment_size().expect("size"), 16 << 20);
        assert_eq!(
            cd.checkpoint_location().expect("checkpoint").to_string(),
            "0/3000028"
        );
        assert_eq!(cd.min_recovery_point().expect("unset"), None);
        let standby = ControlData::parse(
            "Minimum recovery ending location:     0/5000100\nMin recovery ending loc's timeline:   2\n",
        );
        assert_eq!(
            standby.min_recovery_point().expect("set"),
            Some((2, "0/5000100".parse().expect("lsn")))
        );
        let token = cd.demotion_token().expect("token");
        assert_eq!(token.redo_wal_file, "000000020000000000000003");
        assert_eq!(token.time_of_latest_checkpoint, "Fri Nov 20 22:30:01 2026");
        let replica = cd.replica_checkpoint().expect("replica");
        assert_eq!(
            pgfed_api::token::check_promotion(&token, &replica),
            pgfed_api::token::PromotionDecision::Promote
        );
    }

    #[test]
    fn missing_or_bad_fields_are_errors() {
        let cd = ControlData::parse(
            "Database cluster state: in production\nLatest checkpoint's TimeLineID: x\n",
        );
        assert!(!cd.is_shut_down());
        assert!(cd.timeline().is_err());
        assert!(cd.system_identifier().is_err());
    }
}
