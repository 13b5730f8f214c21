//! systemd's notify protocol (`Type=notify`): READY=1 once the engine runs,
//! WATCHDOG=1 from the engine loop's pulse, STOPPING=1 at shutdown. The
//! keep-alives come from the loop itself, so a loop that stalls stops sending
//! them and systemd (`WatchdogSec=`) kills and restarts the service. Outside
//! systemd there is no NOTIFY_SOCKET and every call does nothing.

use sd_notify::NotifyState;

pub(super) struct Systemd {
    /// systemd asked for keep-alives (WATCHDOG_USEC, for this process).
    watchdog: bool,
    /// The socket failed once already: said once in the log, not every second.
    warned: bool,
}

impl Systemd {
    pub fn new() -> Systemd {
        Systemd {
            watchdog: sd_notify::watchdog_enabled().is_some(),
            warned: false,
        }
    }

    pub fn ready(&mut self) {
        self.send(&[NotifyState::Ready]);
    }

    /// One keep-alive; call it only from the turning loop.
    pub fn alive(&mut self) {
        if self.watchdog {
            self.send(&[NotifyState::Watchdog]);
        }
    }

    pub fn stopping(&mut self) {
        self.send(&[NotifyState::Stopping]);
    }

    fn send(&mut self, states: &[NotifyState]) {
        if let Err(e) = sd_notify::notify(states)
            && !std::mem::replace(&mut self.warned, true)
        {
            tracing::warn!("cannot notify systemd (NOTIFY_SOCKET): {e}");
        }
    }
}
