//! TCP probe: healthy when a connection to `address` opens.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Observation, ms, no_answer};
use crate::config::TcpProbe;

pub(crate) async fn probe(spec: &TcpProbe, timeout: Duration) -> Observation {
    let start = Instant::now();
    // Resolution and connect share one deadline: a slow resolver is as bad as a slow peer.
    let outcome = tokio::time::timeout(timeout, connect(&spec.address)).await;
    let latency = start.elapsed();
    match outcome {
        Err(_) => Observation::unhealthy("TIMEOUT", no_answer(timeout), latency),
        Ok(Ok(())) => Observation::healthy(
            format!("connected to {} ({})", spec.address, ms(latency)),
            latency,
        ),
        Ok(Err(Failure::Resolve(why))) => Observation::unhealthy("BAD_ADDRESS", why, latency),
        Ok(Err(Failure::Connect(e))) => {
            let address = &spec.address;
            let (signature, detail) = match e.kind() {
                io::ErrorKind::ConnectionRefused => (
                    "CONNECTION_REFUSED",
                    format!("connect {address}: connection refused"),
                ),
                io::ErrorKind::TimedOut => ("TIMEOUT", no_answer(timeout)),
                _ => ("CONNECTION_ERROR", format!("connect {address}: {e}")),
            };
            Observation::unhealthy(signature, detail, latency)
        }
    }
}

enum Failure {
    Resolve(String),
    Connect(io::Error),
}

/// Resolves first, so an address that cannot work is told apart from a peer that is down.
async fn connect(address: &str) -> Result<(), Failure> {
    // An IP literal (the usual case) needs no resolver: no blocking-pool trip, no allocation.
    if let Ok(addr) = address.parse::<SocketAddr>() {
        tokio::net::TcpStream::connect(addr)
            .await
            .map_err(Failure::Connect)?;
        return Ok(());
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(address)
        .await
        .map_err(|e| Failure::Resolve(format!("cannot resolve `{address}`: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(Failure::Resolve(format!(
            "`{address}` resolves to no address"
        )));
    }
    // Tries each address in turn, like a client would; the last error is reported.
    // The stream is dropped at once: opening it was the whole check.
    tokio::net::TcpStream::connect(&addrs[..])
        .await
        .map_err(Failure::Connect)?;
    Ok(())
}
