//! What a `service` step that names nginx reads from /proc: the config the
//! running master uses (so `nginx -t` tests that one), and the workers whose
//! master is gone (so a restart does not fail with "address in use").
//!
//! nginx rewrites its process titles: the master's /proc/PID/cmdline reads
//! `nginx: master process <its command line>`, a worker's `nginx: worker process`.
//! Every function takes the /proc directory, so tests can point it anywhere.

use std::path::Path;
use std::time::Duration;

const MASTER: &str = "nginx: master process ";
const HELPER: &str = "nginx: ";

/// How long to wait for a killed orphan to exit and let go of its sockets.
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// A running nginx master: its pid and the command line it was started with.
#[derive(Debug, Clone, PartialEq)]
pub struct Master {
    pub pid: i32,
    /// The original argv, program first (`nginx -c /etc/nginx/nginx.conf`).
    pub argv: Vec<String>,
}

/// The first NUL-separated element of a cmdline: where nginx writes its title.
fn title(cmdline: &[u8]) -> String {
    let first = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(first).into_owned()
}

/// The original argv of an nginx master, from its /proc/PID/cmdline; `None`
/// if the process is not an nginx master. nginx joins the argv with spaces, so
/// a path with a space in it cannot be told apart: such a config is not supported.
pub fn master_argv(cmdline: &[u8]) -> Option<Vec<String>> {
    let title = title(cmdline);
    let rest = title.strip_prefix(MASTER)?;
    let argv: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
    (!argv.is_empty()).then_some(argv)
}

/// The options of an nginx command line that choose its config: `-c FILE`
/// and `-p PREFIX` (also written `-cFILE`), ready to pass to `nginx -t`.
pub fn config_options(argv: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut words = argv.iter().skip(1);
    while let Some(word) = words.next() {
        for flag in ["-c", "-p"] {
            if word == flag {
                if let Some(value) = words.next() {
                    out.extend([flag.to_string(), value.clone()]);
                }
            } else if let Some(value) = word.strip_prefix(flag).filter(|v| !v.is_empty()) {
                out.extend([flag.to_string(), value.to_string()]);
            }
        }
    }
    out
}

/// Every process under `proc`: pid, cmdline, parent pid, state, owner uid.
struct Proc {
    pid: i32,
    cmdline: Vec<u8>,
    ppid: i32,
    state: char,
    uid: u32,
}

fn read_proc(proc: &Path, pid: i32) -> Option<Proc> {
    use std::os::unix::fs::MetadataExt;
    let dir = proc.join(pid.to_string());
    let uid = std::fs::metadata(&dir).ok()?.uid();
    let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Proc {
        pid,
        cmdline,
        ppid,
        state,
        uid,
    })
}

fn pids(proc: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// The nginx masters running as root or as us (a master anyone else runs
/// could claim any command line), lowest pid first.
pub fn masters(proc: &Path) -> Vec<Master> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    pids(proc)
        .into_iter()
        .filter_map(|pid| read_proc(proc, pid))
        .filter(|p| p.state != 'Z' && (p.uid == 0 || p.uid == me))
        .filter_map(|p| {
            Some(Master {
                pid: p.pid,
                argv: master_argv(&p.cmdline)?,
            })
        })
        .collect()
}

/// Whether `p` is an nginx worker (or cache process) whose master is gone:
/// its parent is no nginx master. Workers of a running nginx, any other
/// instance's included, have their master as parent and are never orphans.
fn is_orphan(proc: &Path, p: &Proc) -> bool {
    let title = title(&p.cmdline);
    let helper = title.starts_with(HELPER) && !title.starts_with(MASTER);
    let parent_is_master = read_proc(proc, p.ppid)
        .is_some_and(|parent| parent.state != 'Z' && master_argv(&parent.cmdline).is_some());
    helper && p.state != 'Z' && !parent_is_master
}

/// The pids of nginx workers whose master is gone.
pub fn orphans(proc: &Path) -> Vec<i32> {
    pids(proc)
        .into_iter()
        .filter_map(|pid| read_proc(proc, pid))
        .filter(|p| is_orphan(proc, p))
        .map(|p| p.pid)
        .collect()
}

/// Kills the orphaned nginx workers and waits (up to [`EXIT_WAIT`]) for them to
/// exit, so their listening sockets are closed; returns the pids killed.
///
/// Each is pinned with a pidfd first and checked again through it, so a pid
/// reused between the scan and the kill is never signalled.
pub fn stop_orphans(proc: &Path) -> Result<Vec<i32>, String> {
    let mut killed = Vec::new();
    for pid in orphans(proc) {
        let Some(fd) = PidFd::open(pid) else {
            continue; // already gone
        };
        // The pidfd names this very process from now on: check it is still an orphan.
        if !read_proc(proc, pid).is_some_and(|p| is_orphan(proc, &p)) {
            continue;
        }
        fd.kill()
            .map_err(|e| format!("cannot kill orphaned worker {pid}: {e}"))?;
        if !fd.wait_exit(EXIT_WAIT) {
            return Err(format!("orphaned worker {pid} did not exit after SIGKILL"));
        }
        killed.push(pid);
    }
    Ok(killed)
}

/// A pidfd: a handle on one process that a reused pid cannot redirect.
struct PidFd(std::os::fd::OwnedFd);

impl PidFd {
    fn open(pid: i32) -> Option<PidFd> {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        // SAFETY: `fd` was just returned to us by the kernel and is owned by nobody else.
        Some(PidFd(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    fn kill(&self) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_send_signal takes our open pidfd, a signal number and
        // null info; it touches no memory of ours.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        match rc {
            0 => Ok(()),
            _ => match std::io::Error::last_os_error() {
                e if e.raw_os_error() == Some(libc::ESRCH) => Ok(()), // exited meanwhile
                e => Err(e),
            },
        }
    }

    /// Waits until the process has exited (a zombie counts: its sockets are closed).
    fn wait_exit(&self, within: Duration) -> bool {
        use std::os::fd::AsRawFd;
        let mut poll = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(within.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd, count 1.
        unsafe { libc::poll(&mut poll, 1, ms) > 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_master_title_gives_its_command_line() {
        let cmdline = b"nginx: master process /usr/sbin/nginx -c /etc/x/nginx.conf\0\0\0";
        assert_eq!(
            master_argv(cmdline),
            Some(words("/usr/sbin/nginx -c /etc/x/nginx.conf"))
        );
        assert_eq!(master_argv(b"nginx: worker process\0"), None);
        assert_eq!(master_argv(b"/usr/sbin/nginx\0-c\0/x\0"), None);
        assert_eq!(master_argv(b""), None);
    }

    #[test]
    fn config_options_are_what_chooses_the_config() {
        assert_eq!(
            config_options(&words("nginx -g daemon -c /a.conf -p /srv/")),
            words("-c /a.conf -p /srv/")
        );
        assert_eq!(
            config_options(&words("nginx -c/b.conf")),
            words("-c /b.conf")
        );
        assert_eq!(config_options(&words("nginx")), Vec::<String>::new());
        assert_eq!(config_options(&words("nginx -c")), Vec::<String>::new());
    }
}
