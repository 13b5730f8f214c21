//! Probes: one real check per target kind. A probe never fails: a timeout,
//! a refused connection or garbage is reported as an unhealthy [`Observation`].

use std::time::Duration;

pub mod host;
pub mod http;
pub mod process;
pub mod tcp;

/// What one probe saw. `signature` names the failure (`DB_TIMEOUT`,
/// `CONNECTION_REFUSED`, `HTTP_503`, `CPU_HIGH`, ...) and is `None` when healthy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    pub healthy: bool,
    pub signature: Option<String>,
    /// One line for humans: "503 Service Unavailable: pool exhausted", "connect: refused".
    pub detail: String,
    pub latency: Duration,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// The start of the body (at most 4 KiB), for playbook `body_contains` matching.
    pub body: Option<String>,
    pub cpu_percent: Option<f32>,
    pub memory_percent: Option<f32>,
    pub disk_percent: Option<f32>,
}

// TEMP stub until the monitor branch lands.
pub struct Prober;
impl Prober {
    pub fn new() -> Prober {
        Prober
    }
    pub async fn probe(&self, _spec: &crate::config::ProbeSpec, _timeout: Duration) -> Observation {
        unimplemented!()
    }
}
