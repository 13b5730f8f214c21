//! Process probe: a process with an exact name runs, or the pid in a pid file is alive.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System};

use super::{Lane, Observation, PROBE_ERROR, lock, run_blocking};
use crate::config::ProcessProbe;

/// Linux keeps only the first 15 bytes of a process name (TASK_COMM_LEN - 1).
const COMM_LEN: usize = 15;

/// The process list, kept between probes so each refresh only updates it.
#[derive(Default)]
pub(crate) struct ProcessTable {
    system: Arc<Mutex<Option<System>>>,
}

impl ProcessTable {
    pub(crate) async fn probe(
        &self,
        lane: &Lane,
        spec: &ProcessProbe,
        timeout: Duration,
    ) -> Observation {
        let system = Arc::clone(&self.system);
        let spec = spec.clone();
        run_blocking(lane, timeout, move || {
            // A pid file names one exact process, so it wins if both are given.
            match (&spec.pid_file, &spec.name) {
                (Some(pid_file), _) => by_pid_file(pid_file),
                (None, Some(name)) => by_name(&system, name),
                (None, None) => Observation::unhealthy(
                    PROBE_ERROR,
                    "process probe needs `name` or `pid_file`",
                    Duration::ZERO,
                ),
            }
        })
        .await
    }
}

fn by_name(system: &Mutex<Option<System>>, name: &str) -> Observation {
    let mut system = lock(system);
    let system = match &mut *system {
        Some(system) => system,
        empty => match System::new() {
            Ok(new) => empty.insert(new),
            Err(e) => {
                let detail = format!("cannot list processes: {e}");
                return Observation::unhealthy(PROBE_ERROR, detail, Duration::ZERO);
            }
        },
    };
    // Names and states only: no CPU, memory, command lines or threads, which is
    // what makes a full refresh expensive.
    system.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().without_tasks(),
    );
    let running = system
        .processes()
        .values()
        .filter(|p| !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead))
        .filter(|p| name_matches(p.name(), name))
        .count();
    match running {
        0 => Observation::unhealthy(
            "PROCESS_DOWN",
            format!("no process named {name}"),
            Duration::ZERO,
        ),
        1 => Observation::healthy(format!("{name} is running"), Duration::ZERO),
        n => Observation::healthy(
            format!("{n} processes named {name} are running"),
            Duration::ZERO,
        ),
    }
}

/// Exact match, allowing for the kernel cutting long names to [`COMM_LEN`] bytes
/// (otherwise a process named `postgres-exporter` could never be found).
fn name_matches(seen: &OsStr, wanted: &str) -> bool {
    seen == wanted
        || (wanted.len() > COMM_LEN
            && seen.len() == COMM_LEN
            && wanted.as_bytes().starts_with(seen.as_encoded_bytes()))
}

fn by_pid_file(pid_file: &Path) -> Observation {
    let shown = pid_file.display();
    let pid = match read_pid(pid_file) {
        Ok(pid) => pid,
        Err(why) => {
            return Observation::unhealthy(
                "PID_FILE_INVALID",
                format!("{shown}: {why}"),
                Duration::ZERO,
            );
        }
    };
    if is_alive(pid) {
        Observation::healthy(format!("pid {pid} from {shown} is running"), Duration::ZERO)
    } else {
        Observation::unhealthy(
            "PROCESS_DOWN",
            format!("pid {pid} from {shown} is not running"),
            Duration::ZERO,
        )
    }
}

/// The live (not zombie) pids `spec` names now, for a watcher to hold: the
/// one in its pid file, or every process with its name.
pub(crate) fn pids_of(spec: &ProcessProbe) -> Vec<libc::pid_t> {
    match (&spec.pid_file, &spec.name) {
        (Some(pid_file), _) => read_pid(pid_file)
            .into_iter()
            .filter(|p| is_alive(*p))
            .collect(),
        (None, Some(name)) => pids_named(name),
        (None, None) => Vec::new(),
    }
}

/// Every live process whose name (`/proc/<pid>/comm`) is `name`.
fn pids_named(name: &str) -> Vec<libc::pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| name_matches(OsStr::new(comm.trim_end_matches('\n')), name))
        })
        .filter(|pid| !matches!(proc_state(*pid), Some('Z' | 'X')))
        .collect()
}

/// Reads a pid file: one positive number, surrounding whitespace allowed.
fn read_pid(pid_file: &Path) -> Result<libc::pid_t, String> {
    let mut text = String::new();
    // A pid file is a few bytes; anything big is not one, so don't read it all.
    std::fs::File::open(pid_file)
        .and_then(|f| f.take(64).read_to_string(&mut text))
        .map_err(|e| format!("cannot read: {e}"))?;
    let trimmed = text.trim();
    match trimmed.parse::<libc::pid_t>() {
        // pid 0 and negative pids mean process groups to kill(2): never a process.
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(format!("not a pid: {:?}", shorten(trimmed))),
    }
}

fn shorten(text: &str) -> &str {
    &text[..text.floor_char_boundary(32)]
}

/// Alive = the pid exists and is not a zombie (exited, waiting for its parent).
fn is_alive(pid: libc::pid_t) -> bool {
    // Signal 0 checks existence without sending anything; EPERM means it exists
    // but belongs to someone else.
    // SAFETY: kill with signal 0 has no side effects, and pid > 0 targets one process.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !matches!(proc_state(pid), Some('Z' | 'X'))
}

/// The state letter from /proc/<pid>/stat ("1234 (name) S ..."); None where /proc is missing.
fn proc_state(pid: libc::pid_t) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may itself contain ") ", so look after the last one.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_match_their_truncated_comm() {
        assert!(name_matches(OsStr::new("nginx"), "nginx"));
        assert!(!name_matches(OsStr::new("nginx"), "ngin"));
        assert!(name_matches(
            OsStr::new("postgres-export"),
            "postgres-exporter"
        ));
        assert!(!name_matches(OsStr::new("postgres-export"), "postgres-exp"));
    }

    #[test]
    fn our_own_process_is_alive() {
        assert!(is_alive(std::process::id() as libc::pid_t));
        assert_eq!(
            proc_state(std::process::id() as libc::pid_t).map(|c| c != 'Z'),
            Some(true)
        );
    }
}
