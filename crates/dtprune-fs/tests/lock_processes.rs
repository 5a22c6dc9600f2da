//! The run-folder lock between two real processes: this test binary re-runs itself as the
//! holder (`DTPRUNE_LOCK_HOLDER=DIR`), which takes the lock, says so on stdout and keeps it
//! until its stdin closes — or until it is killed.

use dtprune_fs::{LockError, RunLock};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

/// When run as the holder: lock, announce, wait for stdin to close.
#[test]
fn holder() {
    let Some(dir) = std::env::var_os("DTPRUNE_LOCK_HOLDER") else { return };
    let _lock = RunLock::acquire(std::path::Path::new(&dir)).expect("holder locks");
    println!("locked {}", std::process::id());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

fn spawn_holder(dir: &std::path::Path) -> (Child, u32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "holder", "--nocapture", "--test-threads=1"])
        .env("DTPRUNE_LOCK_HOLDER", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let pid = loop {
        let line = lines.next().expect("holder announces the lock").unwrap();
        // libtest prints `test holder ... ` on the same line.
        if let Some((_, pid)) = line.split_once("locked ") {
            break pid.trim().parse().unwrap();
        }
    };
    // Keep reading, so the holder's last lines do not hit a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, pid)
}

#[test]
fn a_live_holder_in_another_process_is_named_and_a_killed_one_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, pid) = spawn_holder(dir.path());
    match RunLock::acquire(dir.path()) {
        Err(e @ LockError::Held { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("pid {pid}")) && text.contains("another dtprune process"), "{text}");
        }
        other => panic!("expected the folder to be held by pid {pid}, got {other:?}"),
    }
    // SIGKILL: no destructor runs, the pid stays in the file, the OS lock goes.
    child.kill().unwrap();
    child.wait().unwrap();
    let lock = RunLock::acquire(dir.path()).expect("a dead holder's lock is taken over");
    assert_eq!(lock.stale_pid(), Some(pid));
    assert!(lock.takeover_message().unwrap().contains("is no longer running"));
}

#[test]
fn a_cleanly_finished_holder_leaves_a_free_lock() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _pid) = spawn_holder(dir.path());
    drop(child.stdin.take()); // holder returns and drops its lock
    assert!(child.wait().unwrap().success());
    let lock = RunLock::acquire(dir.path()).unwrap();
    assert_eq!(lock.stale_pid(), None);
}
