//! Faults injected into PostgreSQL's programs: a bin directory of links to the real ones in which
//! `pg_ctl` and `pg_rewind` are scripts that obey fault files, so a test decides when a stop fails
//! or hangs and when pg_rewind fails, and proves the fault was hit (every hit is logged).

use super::{chown_pg, pg_bindir};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What a faulty program does instead of its job.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Exits 1 at once.
    Fail,
    /// Waits until the fault is cleared, then exits 1 (it never does its job, even late).
    Hang,
}

pub struct FaultyBindir {
    pub dir: PathBuf,
}

/// `pg_ctl` (fault per verb: `pg_ctl.stop.fault`) or `pg_rewind` (`pg_rewind.fault`).
const WRAPPER: &str = r#"#!/bin/sh
dir=$(dirname "$0")
prog=$(basename "$0")
verb=""
if [ "$prog" = pg_ctl ]; then
  for a in "$@"; do
    case "$a" in start|stop|promote|reload|status|restart) verb=".$a";; esac
  done
fi
fault="$dir/$prog$verb.fault"
if [ -e "$fault" ]; then
  what=$(cat "$fault")
  echo "$prog$verb $what" >> "$dir/hits"
  if [ "$what" = hang ]; then
    while [ -e "$fault" ]; do sleep 0.2; done
  fi
  echo "$prog: injected fault ($what)" >&2
  exit 1
fi
exec "REAL/$prog" "$@"
"#;

impl FaultyBindir {
    /// Creates `<under>/faulty-bin`.
    pub fn new(under: &Path) -> FaultyBindir {
        let dir = under.join("faulty-bin");
        std::fs::create_dir_all(&dir).expect("mkdir");
        chown_pg(&dir);
        let real = pg_bindir();
        for entry in std::fs::read_dir(&real).expect("PostgreSQL bin directory") {
            let name = entry.expect("entry").file_name();
            let to = dir.join(&name);
            if name == "pg_ctl" || name == "pg_rewind" {
                let script = WRAPPER.replace("REAL", &real.display().to_string());
                std::fs::write(&to, script).expect("wrapper");
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
            } else {
                std::os::unix::fs::symlink(real.join(&name), &to).expect("symlink");
            }
        }
        FaultyBindir { dir }
    }

    /// Makes `program` (`pg_ctl.stop`, `pg_rewind`) fail or hang until cleared.
    pub fn set(&self, program: &str, fault: Fault) {
        let what = match fault {
            Fault::Fail => "fail",
            Fault::Hang => "hang",
        };
        std::fs::write(self.dir.join(format!("{program}.fault")), what).expect("fault file");
    }

    pub fn clear(&self, program: &str) {
        let _ = std::fs::remove_file(self.dir.join(format!("{program}.fault")));
    }

    /// How many times `program` hit its fault.
    pub fn hits(&self, program: &str) -> usize {
        std::fs::read_to_string(self.dir.join("hits"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(program))
            .count()
    }
}
