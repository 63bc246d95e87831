//! What a child process of the server does before anything else: tie its life to the server's.
//! A server killed with SIGKILL runs no cleanup and its `kill_on_drop` never fires; without
//! this, its children would work on beside the restarted server (a snapshot's restic holding the
//! repository's lock, a render writing into a `tmp/` that start-up has just emptied). Under
//! systemd the unit's control group ends them as well; this covers every other way of running.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;

/// The arguments that start `program` through [`run_guarded`] from this process.
pub fn guarded_launcher(program: &Path) -> Vec<OsString> {
    match std::env::current_exe() {
        Ok(exe) => vec![
            exe.into_os_string(),
            "run-guarded".into(),
            "--parent-pid".into(),
            std::process::id().to_string().into(),
            "--".into(),
            program.as_os_str().to_owned(),
        ],
        // Without our own path there is no guard to start; the program runs unguarded.
        Err(_) => vec![program.as_os_str().to_owned()],
    }
}

/// Asks the kernel to SIGKILL this process when its parent ends, then checks that the parent is
/// still `parent`: had it ended before the request, the request would never fire.
///
/// The kernel sends the signal when the parent *thread* that started this process ends. The
/// server starts children from its runtime's worker threads, which live as long as the server,
/// or from a blocking thread that waits for the child, and so outlives it.
pub fn die_with_parent(parent: u32) -> bool {
    use rustix::process::{Signal, getppid, set_parent_process_death_signal};
    set_parent_process_death_signal(Some(Signal::KILL)).is_ok()
        && getppid().is_some_and(|p| i64::from(p.as_raw_nonzero().get()) == i64::from(parent))
}

/// `studiovault run-guarded --parent-pid N -- PROGRAM ARGS…`: becomes `PROGRAM` (exec keeps
/// the death signal) once tied to the server, so a third-party tool such as restic ends with it.
pub fn run_guarded(parent: u32, program: &Path, args: &[OsString]) -> ExitCode {
    if !die_with_parent(parent) {
        eprintln!("error: the server that started this is gone");
        return ExitCode::FAILURE;
    }
    let error = std::process::Command::new(program).args(args).exec();
    eprintln!("error: cannot run {}: {error}", program.display());
    ExitCode::from(127)
}
