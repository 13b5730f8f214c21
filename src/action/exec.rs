//! Runs a command: directly (or via `sh -c` when asked), in its own process
//! group, under a timeout, with its output captured and bounded.
//!
//! Two things shape this code. A timed-out command must not leave children
//! behind, so the whole process group is killed, not just the direct child.
//! And a command that restarts a daemon hands it our stdout pipe, which stays
//! open for the daemon's lifetime, so we never wait for pipe EOF: we wait for
//! the direct child, then give the pipes a short grace period.

use super::template::{render, render_shell, shell_quote};
use super::vars::{Place, Vars};
use super::{ActionOutcome, ExecAction, OUTPUT_LIMIT};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;

/// How long to keep collecting output once the direct child has exited.
const DRAIN: Duration = Duration::from_millis(200);

/// How long to wait for the killed child to be reaped before leaving it to
/// tokio's background reaper (it is already SIGKILLed; this only bounds us).
const REAP: Duration = Duration::from_secs(1);

/// Appended to output cut at [`OUTPUT_LIMIT`].
const TRUNCATED: &str = "…(truncated)";

/// A command with its values filled in: exactly what will run.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    /// Program and arguments; `sh -c <script>` for a shell action.
    pub argv: Vec<String>,
    /// Added to the inherited environment: `AUTOHEAL_*` for every value, then the spec's `env`.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Starts a service that may stay in the foreground: in a session of its
    /// own, and still running after this long means started (left running),
    /// as a service manager would; exiting first is judged by its status.
    pub detach: Option<Duration>,
}

/// Fills `vars` into `spec`, refusing (before anything runs) a bad template,
/// a bad spec, or an untrusted value that does not fit where it goes.
pub fn prepare(spec: &ExecAction, vars: &Vars) -> Result<Ready, String> {
    let argv = command_line(spec, vars)?;
    if argv.is_empty() {
        return Err("empty argv: nothing to run".into());
    }
    let mut env: Vec<(String, String)> = vars
        .values_at(Place::Env)
        .map_err(|e| format!("env: {e}"))?
        .into_iter()
        .map(|(name, value)| (env_name(name), value.to_string()))
        .collect();
    for (key, value) in &spec.env {
        let value = render(value, vars, Place::Env).map_err(|e| format!("env {key}: {e}"))?;
        env.push((key.clone(), value));
    }
    Ok(Ready {
        argv,
        env,
        timeout: spec.timeout,
        detach: None,
    })
}

/// Prepares and runs `spec`; a refusal is a failed outcome that ran nothing.
pub async fn run(spec: &ExecAction, vars: &Vars) -> ActionOutcome {
    match prepare(spec, vars) {
        Ok(ready) => ready.run().await,
        Err(refusal) => super::timed(async { Err(refusal) }).await,
    }
}

impl Ready {
    /// For journals: `exec systemctl restart web`, or the script as run by `sh -c`.
    pub fn label(&self) -> String {
        match self.argv.as_slice() {
            [sh, c, script] if sh == "sh" && c == "-c" => format!("exec {script}"),
            argv => format!("exec {}", argv.join(" ")),
        }
    }

    /// For a human about to approve it: the argv as a shell would read it
    /// (`systemctl restart 'orders db'`), without the environment, which may hold secrets.
    pub fn describe(&self) -> String {
        quote_argv(&self.argv)
    }

    pub async fn run(&self) -> ActionOutcome {
        super::timed(execute(self)).await
    }
}

/// `argv` as a shell would read it, quoting only the words that need it.
pub fn quote_argv(argv: &[String]) -> String {
    let word = |w: &String| {
        let plain = !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
        if plain { w.clone() } else { shell_quote(w) }
    };
    argv.iter().map(word).collect::<Vec<_>>().join(" ")
}

/// `Ok(output)` if the command exited 0, otherwise `Err(explanation and output)`.
async fn execute(ready: &Ready) -> Result<String, String> {
    let (program, args) = ready
        .argv
        .split_first()
        .ok_or("empty argv: nothing to run")?;

    let mut command = Command::new(program);
    command
        .args(args)
        .envs(ready.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if ready.detach.is_some() {
        // SAFETY: setsid is async-signal-safe and touches no memory; between
        // fork and exec nothing else runs. Its own session (and group, for a
        // timeout to kill), so no terminal of ours reaches the service.
        unsafe {
            command.pre_exec(|| match libc::setsid() {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            });
        }
    } else {
        // Its own group, so a timeout can kill everything it started.
        command.process_group(0).kill_on_drop(true);
    }

    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    // Declared after `child` so it drops first: if this future is cancelled,
    // the group dies while the leader is still unreaped (see GroupKill).
    let mut group = GroupKill(child.id().and_then(|pid| i32::try_from(pid).ok()));
    let stdout = Capture::spawn(child.stdout.take());
    let stderr = Capture::spawn(child.stderr.take());

    let wait = ready.detach.map_or(ready.timeout, |d| d.min(ready.timeout));
    let waited = tokio::time::timeout(wait, child.wait()).await;
    let headline = match waited {
        Err(_settled) if ready.detach.is_some() => {
            // Still running: that is the service. tokio reaps it when it exits.
            group.disarm();
            None
        }
        Ok(Ok(status)) => {
            // The leader is reaped; whatever it left running (a restarted
            // daemon) is meant to outlive us, and its pid may be reused.
            group.disarm();
            describe_failure(status)
        }
        Ok(Err(e)) => {
            group.kill();
            Some(format!("cannot wait for `{program}`: {e}"))
        }
        Err(_elapsed) => {
            group.kill();
            // Errors here mean it is already gone or will be reaped by tokio.
            let _ = tokio::time::timeout(REAP, child.wait()).await;
            Some(format!("timed out after {:?}", ready.timeout))
        }
    };

    let (text, cut) = collect(stdout, stderr).await;
    match headline {
        None => Ok(limit_output(&text, cut)),
        Some(headline) if text.trim().is_empty() => Err(headline),
        Some(headline) => Err(limit_output(&format!("{headline}\n{text}"), cut)),
    }
}

/// The argv to execute: templated element by element, or `sh -c <script>`.
fn command_line(spec: &ExecAction, vars: &Vars) -> Result<Vec<String>, String> {
    if spec.shell {
        let [script] = spec.argv.as_slice() else {
            return Err(format!(
                "shell: true needs argv to be exactly one script, got {} elements",
                spec.argv.len()
            ));
        };
        let script = render_shell(script, vars).map_err(|e| e.to_string())?;
        return Ok(vec!["sh".into(), "-c".into(), script]);
    }
    spec.argv
        .iter()
        .map(|arg| render(arg, vars, Place::Word).map_err(|e| e.to_string()))
        .collect()
}

/// `target` -> `AUTOHEAL_TARGET`, `admin-url` -> `AUTOHEAL_ADMIN_URL`.
fn env_name(var: &str) -> String {
    let name: String = var
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("AUTOHEAL_{name}")
}

fn describe_failure(status: ExitStatus) -> Option<String> {
    match (status.code(), status.signal()) {
        _ if status.success() => None,
        (Some(code), _) => Some(format!("exit status {code}")),
        (None, Some(signal)) => Some(format!("killed by signal {signal}")),
        (None, None) => Some(format!("failed: {status}")),
    }
}

/// Kills a process group with SIGKILL unless disarmed; also on drop, so a
/// cancelled action cannot leave a runaway process tree.
///
/// Only armed while the group leader is unreaped: until then its pid (the
/// group id) cannot be reused, so we can never signal someone else's group.
struct GroupKill(Option<i32>);

impl GroupKill {
    fn disarm(&mut self) {
        self.0 = None;
    }

    fn kill(&mut self) {
        // A pgid <= 0 would make kill(2) target our own group or every
        // process we may signal; `Child::id` never gives one, but be sure.
        if let Some(pgid) = self.0.take().filter(|&pgid| pgid > 0) {
            // SAFETY: kill(2) only takes integers and touches no memory of
            // ours. `-pgid` names the child's own group (process_group(0)),
            // whose leader is not yet reaped, so the id is still its own.
            // A failure (ESRCH: all already gone) needs no handling.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Bytes read from one pipe, of which the first `OUTPUT_LIMIT` are kept.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    /// More was written than kept.
    overflowed: bool,
}

/// A task reading one pipe into a shared buffer until EOF.
///
/// The task is never aborted: after we stop collecting it keeps reading and
/// discarding, so a daemon that inherited the pipe is not killed by SIGPIPE
/// on its next write. It ends when the last writer closes the pipe.
struct Capture {
    buffer: Arc<Mutex<Captured>>,
    task: JoinHandle<()>,
}

impl Capture {
    fn spawn<R: AsyncRead + Unpin + Send + 'static>(pipe: Option<R>) -> Capture {
        let buffer = Arc::new(Mutex::new(Captured::default()));
        let shared = Arc::clone(&buffer);
        let task = tokio::spawn(async move {
            let Some(mut pipe) = pipe else { return };
            let mut chunk = [0u8; 8192];
            // A read error is treated like EOF: there is nothing more to get.
            while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                let mut captured = shared.lock().unwrap_or_else(PoisonError::into_inner);
                let room = OUTPUT_LIMIT.saturating_sub(captured.bytes.len());
                captured.bytes.extend_from_slice(&chunk[..n.min(room)]);
                captured.overflowed |= n > room;
            }
        });
        Capture { buffer, task }
    }

    fn take(&self) -> Captured {
        std::mem::take(&mut *self.buffer.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Waits up to [`DRAIN`] for both pipes to close, then returns stdout followed
/// by stderr as text, and whether anything was cut.
async fn collect(mut stdout: Capture, mut stderr: Capture) -> (String, bool) {
    let both = async {
        // A reader task cannot panic in practice; if it did, use what it read.
        let _ = (&mut stdout.task).await;
        let _ = (&mut stderr.task).await;
    };
    let _ = tokio::time::timeout(DRAIN, both).await;

    let (out, err) = (stdout.take(), stderr.take());
    let mut text = String::from_utf8_lossy(&out.bytes).into_owned();
    let err_text = String::from_utf8_lossy(&err.bytes);
    if !text.is_empty() && !err_text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&err_text);
    (text, out.overflowed || err.overflowed)
}

/// Trims trailing whitespace and keeps at most [`OUTPUT_LIMIT`] bytes, cut on
/// a char boundary and marked, if `text` is longer or was already `cut`.
pub(super) fn limit_output(text: &str, cut: bool) -> String {
    let text = text.trim_end();
    if text.len() <= OUTPUT_LIMIT && !cut {
        return text.to_string();
    }
    let end = text.floor_char_boundary(OUTPUT_LIMIT - TRUNCATED.len());
    format!("{}{TRUNCATED}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_upper_snake_case() {
        assert_eq!(env_name("target"), "AUTOHEAL_TARGET");
        assert_eq!(env_name("admin-url.v2"), "AUTOHEAL_ADMIN_URL_V2");
    }

    #[test]
    fn long_output_is_cut_on_a_char_boundary_and_marked() {
        let text = "é".repeat(OUTPUT_LIMIT);
        let limited = limit_output(&text, false);
        assert!(limited.len() <= OUTPUT_LIMIT);
        assert!(limited.ends_with(TRUNCATED));
        assert!(
            limited
                .trim_end_matches(TRUNCATED)
                .chars()
                .all(|c| c == 'é')
        );
    }

    #[test]
    fn short_output_is_only_trimmed_unless_already_cut() {
        assert_eq!(limit_output("done\n\n", false), "done");
        assert_eq!(limit_output("done\n", true), format!("done{TRUNCATED}"));
    }
}
