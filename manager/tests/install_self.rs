//! `manager bootstrap DEST`, as an instance pod's init container runs it: the copy it leaves is
//! the same program and runs.

mod common;

use std::process::Command;

#[test]
fn the_installed_copy_is_the_manager_and_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("manager");
    let out = Command::new(common::manager_bin())
        .args(["bootstrap"])
        .arg(&dest)
        .output()
        .expect("run manager bootstrap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&dest).expect("installed copy"),
        std::fs::read(common::manager_bin()).expect("built manager")
    );
    let version = Command::new(&dest)
        .arg("--version")
        .output()
        .expect("run the copy");
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("manager "));
}

#[test]
fn an_unwritable_destination_fails_with_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("no-such-dir/manager");
    let out = Command::new(common::manager_bin())
        .args(["bootstrap"])
        .arg(&dest)
        .output()
        .expect("run manager bootstrap");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-dir"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
