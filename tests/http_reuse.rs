//! The lean HTTP probe's kept-alive connection, against real loopback servers
//! that count the connections they accept: reuse actually reuses, a server that
//! closes is no false failure, and a wedged accept loop is caught.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autoheal::config::{HttpProbe, ProbeSpec};
use autoheal::monitor::{Lane, Observation, Prober};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;

const TIMEOUT: Duration = Duration::from_secs(2);
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nall good";

/// How a test server treats a connection after each answer.
#[derive(Clone, Copy, PartialEq)]
enum After {
    /// Waits for the next request on the same connection.
    KeepAlive,
    /// Hangs up without saying so (no `Connection: close`).
    Close,
    /// Answers one request, then hangs up when the next one arrives, unanswered:
    /// an idle timeout firing just as the probe reuses the connection.
    DropNextRequest,
}

struct Server {
    addr: SocketAddr,
    /// Answers given on each connection, in the order they were accepted.
    served: Arc<Mutex<Vec<usize>>>,
    /// Wakes the accept loop to stop accepting for good (the listener stays open).
    wedge: Arc<Notify>,
}

impl Server {
    fn accepted(&self) -> usize {
        self.served.lock().unwrap().len()
    }

    fn served(&self) -> Vec<usize> {
        self.served.lock().unwrap().clone()
    }
}

/// A loopback server writing `pieces` (a few ms apart) as each answer. Its
/// backlog is small, so a wedged one is quickly full.
async fn serve(pieces: Vec<Vec<u8>>, after: After) -> Server {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(2).unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(Mutex::new(Vec::new()));
    let wedge = Arc::new(Notify::new());
    let (log, wedged) = (served.clone(), wedge.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((socket, _)) = accepted else { return };
                    let index = {
                        let mut log = log.lock().unwrap();
                        log.push(0);
                        log.len() - 1
                    };
                    tokio::spawn(answer(socket, pieces.clone(), after, log.clone(), index));
                }
                _ = wedged.notified() => break,
            }
        }
        let _listener = listener;
        std::future::pending::<()>().await;
    });
    Server {
        addr,
        served,
        wedge,
    }
}

async fn answer(
    mut socket: TcpStream,
    pieces: Vec<Vec<u8>>,
    after: After,
    log: Arc<Mutex<Vec<usize>>>,
    index: usize,
) {
    let mut answered = 0;
    loop {
        if !read_request(&mut socket).await {
            return;
        }
        if after == After::DropNextRequest && answered == 1 {
            return;
        }
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if socket.write_all(piece).await.is_err() {
                return;
            }
        }
        answered += 1;
        log.lock().unwrap()[index] += 1;
        if after == After::Close {
            return;
        }
    }
}

/// Reads one request head; `false` when the client hung up.
async fn read_request(socket: &mut TcpStream) -> bool {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    true
}

fn spec(addr: SocketAddr, fresh_every: u32) -> ProbeSpec {
    ProbeSpec::Http(HttpProbe {
        url: format!("http://{addr}/health"),
        expect_status: None,
        max_latency: None,
        body_contains: None,
        fresh_every: Some(fresh_every),
    })
}

/// `n` probes of one target (one lane), a few ms apart.
async fn probes(spec: &ProbeSpec, n: usize, timeout: Duration) -> Vec<Observation> {
    let (prober, lane) = (Prober::new(), Lane::default());
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(prober.probe_on(&lane, spec, timeout).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    out
}

/// `probes` probes with `fresh_every: 10` took at most 3 connections (the
/// first carries a random share of 10): the answers left them reusable.
fn assert_reused(server: &Server, probes: usize) {
    let served = server.served();
    assert_eq!(served.iter().sum::<usize>(), probes);
    assert!(served.len() <= 3, "{served:?}");
}

fn all_healthy(observations: &[Observation]) {
    for (i, o) in observations.iter().enumerate() {
        assert!(o.healthy, "probe {i}: {o:?}");
        assert_eq!(o.body.as_deref(), Some("all good"), "probe {i}");
    }
}

#[tokio::test]
async fn a_kept_alive_connection_is_reused_with_a_fresh_one_every_nth_probe() {
    let server = serve(vec![OK.to_vec()], After::KeepAlive).await;
    all_healthy(&probes(&spec(server.addr, 5), 16, TIMEOUT).await);
    let served = server.served();
    assert_eq!(served.iter().sum::<usize>(), 16);
    // A target's first connection carries a random share of 5 probes, so that
    // targets started together do not reconnect together; every later one, 5.
    let (first, rest) = served.split_first().unwrap();
    assert!((1..=5).contains(first), "{served:?}");
    let (last, middle) = rest.split_last().unwrap();
    assert!(middle.iter().all(|n| *n == 5) && *last <= 5, "{served:?}");

    let server = serve(vec![OK.to_vec()], After::KeepAlive).await;
    all_healthy(&probes(&spec(server.addr, 1), 4, TIMEOUT).await);
    assert_eq!(
        server.served(),
        [1, 1, 1, 1],
        "fresh_every 1: a new connection each time"
    );
}

#[tokio::test]
async fn a_server_that_closes_after_each_answer_gives_no_false_failure() {
    let server = serve(vec![OK.to_vec()], After::Close).await;
    all_healthy(&probes(&spec(server.addr, 10), 6, TIMEOUT).await);
    assert_eq!(server.accepted(), 6);

    // Saying so is heeded: no reuse is even tried.
    let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 8\r\n\r\nall good";
    let server = serve(vec![close.to_vec()], After::KeepAlive).await;
    all_healthy(&probes(&spec(server.addr, 10), 3, TIMEOUT).await);
    assert_eq!(server.accepted(), 3);
}

#[tokio::test]
async fn a_connection_closed_as_it_is_reused_is_retried_on_a_fresh_one() {
    let server = serve(vec![OK.to_vec()], After::DropNextRequest).await;
    all_healthy(&probes(&spec(server.addr, 10), 4, TIMEOUT).await);
    // Each reuse finds the connection dropped and retries on a new one.
    assert_eq!(server.accepted(), 4);
}

#[tokio::test]
async fn a_wedged_accept_loop_is_caught_on_the_fresh_probe() {
    let server = serve(vec![OK.to_vec()], After::KeepAlive).await;
    let (prober, lane) = (Prober::new(), Lane::default());
    let spec = spec(server.addr, 3);
    let timeout = Duration::from_millis(300);
    // Up to the second connection, which carries exactly 3 probes.
    while server.accepted() < 2 {
        let o = prober.probe_on(&lane, &spec, timeout).await;
        assert!(o.healthy, "{o:?}");
    }
    // The server stops accepting; its backlog fills with connections it never takes.
    server.wedge.notify_one();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(server.addr))
            .await
        {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    for i in 2..=3 {
        let o = prober.probe_on(&lane, &spec, timeout).await;
        assert!(o.healthy, "probe {i} rides the kept connection: {o:?}");
    }
    for i in 4..=5 {
        let o = prober.probe_on(&lane, &spec, timeout).await;
        assert_eq!(o.signature.as_deref(), Some("TIMEOUT"), "probe {i}: {o:?}");
    }
}

#[tokio::test]
async fn chunked_and_content_length_bodies_split_across_writes() {
    let chunked = vec![
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nall".to_vec(),
        b" \r\n4\r\ngo".to_vec(),
        b"od\r\n0\r\n\r\n".to_vec(),
    ];
    let server = serve(chunked, After::KeepAlive).await;
    all_healthy(&probes(&spec(server.addr, 10), 12, TIMEOUT).await);
    assert_reused(&server, 12);

    let split = vec![
        b"HTTP/1.1 200 OK\r\nContent-Le".to_vec(),
        b"ngth: 8\r\n\r\nall ".to_vec(),
        b"good".to_vec(),
    ];
    let server = serve(split, After::KeepAlive).await;
    all_healthy(&probes(&spec(server.addr, 10), 12, TIMEOUT).await);
    assert_reused(&server, 12);

    // An interim 100 answer is skipped, whether the real one comes later or with it.
    let interim = vec![b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(), OK.to_vec()];
    let server = serve(interim, After::KeepAlive).await;
    all_healthy(&probes(&spec(server.addr, 10), 2, TIMEOUT).await);
    let together = [b"HTTP/1.1 100 Continue\r\n\r\n".as_slice(), OK].concat();
    let server = serve(vec![together], After::KeepAlive).await;
    all_healthy(&probes(&spec(server.addr, 10), 2, TIMEOUT).await);
}

#[tokio::test]
async fn a_body_over_the_cap_is_cut_and_its_connection_not_reused() {
    let big = vec![b'x'; 1024 * 1024];
    let mut length =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len()).into_bytes();
    length.extend_from_slice(&big);
    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in big.chunks(10_000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    for answer in [length, chunked] {
        let server = serve(vec![answer], After::KeepAlive).await;
        let observations = probes(&spec(server.addr, 10), 2, TIMEOUT).await;
        for o in &observations {
            assert!(o.healthy, "{o:?}");
            let body = o.body.as_deref().unwrap();
            assert!(body.len() == 4096 && body.bytes().all(|b| b == b'x'));
        }
        assert_eq!(
            server.accepted(),
            2,
            "an unread rest cannot carry another answer"
        );
    }
}

#[tokio::test]
async fn a_body_cut_short_is_a_connection_error() {
    let short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this".to_vec();
    let server = serve(vec![short], After::Close).await;
    let o = &probes(&spec(server.addr, 10), 1, TIMEOUT).await[0];
    assert_eq!(o.signature.as_deref(), Some("CONNECTION_ERROR"), "{o:?}");
}

#[tokio::test]
async fn a_changed_url_does_not_ride_the_old_connection() {
    let old = serve(vec![OK.to_vec()], After::KeepAlive).await;
    let new = serve(vec![OK.to_vec()], After::KeepAlive).await;
    let (prober, lane) = (Prober::new(), Lane::default());
    // Past the old server's first connection, so the next probe would reuse.
    while old.accepted() < 2 {
        assert!(
            prober
                .probe_on(&lane, &spec(old.addr, 10), TIMEOUT)
                .await
                .healthy
        );
    }
    let o = prober.probe_on(&lane, &spec(new.addr, 10), TIMEOUT).await;
    assert!(o.healthy, "{o:?}");
    assert_eq!(new.served(), [1], "the new URL's server answered");
}
