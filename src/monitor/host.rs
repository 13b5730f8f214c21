//! Host probe: CPU, memory, disk and load of the machine we run on.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sysinfo::{CpuRefreshKind, RefreshKind, System};

use super::{Lane, Observation, PROBE_ERROR, lock, run_blocking};
use crate::config::HostProbe;

/// The sysinfo state kept between host probes. CPU usage is the difference
/// between two samples, so the first probe samples twice (waiting
/// [`sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`]) and every later one reuses the last sample.
#[derive(Default)]
pub(crate) struct Sampler {
    state: Arc<Mutex<Option<State>>>,
}

struct State {
    system: System,
}

/// One reading of the host.
struct Sample {
    cpu: f32,
    memory: Option<f32>,
    disk: Option<f32>,
    load_per_core: Option<f64>,
}

impl Sampler {
    pub(crate) async fn probe(
        &self,
        lane: &Lane,
        spec: &HostProbe,
        timeout: Duration,
    ) -> Observation {
        let state = Arc::clone(&self.state);
        let spec = spec.clone();
        run_blocking(lane, timeout, move || {
            let mut state = lock(&state);
            let state = match &mut *state {
                Some(state) => state,
                empty => match State::new() {
                    Ok(new) => empty.insert(new),
                    Err(e) => {
                        return Observation::unhealthy(
                            PROBE_ERROR,
                            format!("cannot read host stats: {e}"),
                            Duration::ZERO,
                        );
                    }
                },
            };
            judge(&spec, &state.sample(&spec))
        })
        .await
    }
}

impl State {
    /// Takes the first CPU sample and waits for the second, so the first probe's
    /// CPU figure is real: usage is the difference between two samples.
    fn new() -> Result<State, sysinfo::Error> {
        let system = System::new_with_specifics(
            RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing().with_usage()),
        )?;
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        Ok(State { system })
    }

    fn sample(&mut self, spec: &HostProbe) -> Sample {
        // sysinfo itself skips a CPU refresh closer than the minimum interval to the
        // last one, so probing often is cheap and still correct.
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();

        let total = self.system.total_memory();
        let memory = (total > 0).then(|| percent(self.system.used_memory(), total));
        let disk = disk_used_percent(&spec.disk_path);
        let cores = self.system.cpus().len().max(1) as f64;
        let load_per_core = spec
            .load_per_core
            .and_then(|_| System::load_average().ok())
            .map(|load| load.one / cores);
        Sample {
            cpu: self.system.global_cpu_usage(),
            memory,
            disk,
            load_per_core,
        }
    }
}

fn percent(part: u64, whole: u64) -> f32 {
    (part as f64 * 100.0 / whole as f64) as f32
}

/// Used space of the filesystem holding `path`, as `df` computes it: used /
/// (used + available to users). sysinfo has no free-block count, and total minus
/// available counts the root reserve as used, which reads 70% on a disk `df` calls 15%.
fn disk_used_percent(path: &Path) -> Option<f32> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and st a writable statvfs.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let used = (st.f_blocks as u64).saturating_sub(st.f_bfree as u64);
    let usable = used + st.f_bavail as u64;
    (usable > 0).then(|| percent(used, usable))
}

/// The first threshold exceeded, in the order CPU, memory, disk, load.
fn judge(spec: &HostProbe, s: &Sample) -> Observation {
    let breach = if s.cpu > spec.cpu_percent {
        Some((
            "CPU_HIGH",
            format!("cpu {:.1}% > {}%", s.cpu, spec.cpu_percent),
        ))
    } else if let Some(m) = s.memory.filter(|m| *m > spec.memory_percent) {
        Some((
            "MEMORY_HIGH",
            format!("memory {m:.1}% > {}%", spec.memory_percent),
        ))
    } else if let Some(d) = s.disk.filter(|d| *d > spec.disk_percent) {
        let mount = spec.disk_path.display();
        Some((
            "DISK_FULL",
            format!("disk {mount} {d:.1}% > {}%", spec.disk_percent),
        ))
    } else {
        match (s.load_per_core, spec.load_per_core) {
            (Some(load), Some(max)) if load > max => {
                Some(("LOAD_HIGH", format!("load {load:.2} per core > {max}")))
            }
            _ => None,
        }
    };
    let mut observation = match breach {
        Some((signature, detail)) => Observation::unhealthy(signature, detail, Duration::ZERO),
        None => {
            let fmt = |v: Option<f32>| v.map_or_else(|| "?".to_string(), |v| format!("{v:.1}%"));
            let detail = format!(
                "cpu {:.1}%, memory {}, disk {}",
                s.cpu,
                fmt(s.memory),
                fmt(s.disk)
            );
            Observation::healthy(detail, Duration::ZERO)
        }
    };
    observation.cpu_percent = Some(s.cpu);
    observation.memory_percent = s.memory;
    observation.disk_percent = s.disk;
    observation.load_per_core = s.load_per_core.map(|l| l as f32);
    observation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sample {
        Sample {
            cpu: 50.0,
            memory: Some(60.0),
            disk: Some(70.0),
            load_per_core: Some(0.5),
        }
    }

    #[test]
    fn first_threshold_exceeded_names_the_signature() {
        let mut spec = HostProbe {
            load_per_core: Some(1.0),
            ..HostProbe::default()
        };
        assert!(judge(&spec, &sample()).healthy);
        spec.disk_percent = 69.0;
        spec.memory_percent = 59.0;
        let obs = judge(&spec, &sample());
        assert_eq!(obs.signature.as_deref(), Some("MEMORY_HIGH"));
        assert_eq!(obs.detail, "memory 60.0% > 59%");
        spec.load_per_core = Some(0.25);
        spec.memory_percent = 95.0;
        assert_eq!(
            judge(&spec, &sample()).signature.as_deref(),
            Some("DISK_FULL")
        );
    }
}
