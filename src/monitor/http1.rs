//! A lean HTTP/1.1 GET for plain-http health checks. The request bytes are built
//! once per target, and the connection is kept alive between probes with a fresh
//! one every `fresh_every` probes: a kept connection proves the server answers,
//! not that it still accepts, so the fresh ones catch a wedged accept loop.
//! (https and URLs with credentials go through reqwest instead.)

use std::io;
use std::net::{IpAddr, SocketAddr};

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::BODY_READ_CAP;

/// A response head larger than this is not a health check answering.
const HEAD_CAP: usize = 64 * 1024;
/// Headers a response may have (hyper's default, which reqwest used).
const MAX_HEADERS: usize = 100;

/// Where and what to ask, worked out once from the URL.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// Set when the host is an IP literal: no resolver on the probe path.
    addr: Option<SocketAddr>,
    host: String,
    port: u16,
    request: Box<[u8]>,
}

impl Endpoint {
    /// `None` when the URL needs the general client (https, credentials).
    pub(crate) fn new(url: &Url) -> Option<Endpoint> {
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = bare
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, port));
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: {authority}\r\nuser-agent: autoheal/{}\r\naccept: */*\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        Some(Endpoint {
            addr,
            host: bare.to_string(),
            port,
            request: request.into_bytes().into_boxed_slice(),
        })
    }
}

/// A target's kept-alive connection and how many more probes it may carry.
#[derive(Debug, Default)]
pub(crate) struct Conn {
    stream: Option<TcpStream>,
    reuses_left: u32,
    /// Whether this target opened a connection before: its first one carries a
    /// random share of `fresh_every`, so targets started together do not all
    /// reconnect in the same second every `fresh_every` probes.
    opened: bool,
}

/// Why a GET got no usable answer.
#[derive(Debug)]
pub(crate) enum Failure {
    Connect(io::Error),
    /// Connected, then the exchange broke: hang-up, reset, garbage.
    Exchange(String),
}

/// Status and body (at most [`BODY_READ_CAP`]) of one GET.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One GET on the kept connection when it may be reused, else on a fresh one.
/// A reused connection that breaks before any byte of the answer (the server
/// closed it while idle) is retried once on a fresh connection, so an idle
/// timeout never reads as a failure. The connection is kept afterwards only
/// if the answer allows it; after any failure the next probe starts fresh.
pub(crate) async fn get(
    ep: &Endpoint,
    conn: &mut Conn,
    fresh_every: u32,
) -> Result<Answer, Failure> {
    let reusable = conn.reuses_left.min(fresh_every.saturating_sub(1)) > 0;
    if let Some(stream) = conn.stream.take().filter(|s| reusable && idle_and_open(s)) {
        match exchange(ep, stream).await {
            Ok((answer, stream)) => {
                conn.reuses_left -= 1;
                conn.stream = stream.filter(|_| conn.reuses_left > 0);
                return Ok(answer);
            }
            Err(Broke::Silent(_)) => {}
            Err(Broke::Answered(why)) => return Err(Failure::Exchange(why)),
        }
    }
    let stream = connect(ep).await?;
    let (answer, stream) = exchange(ep, stream).await.map_err(|b| match b {
        Broke::Silent(why) | Broke::Answered(why) => Failure::Exchange(why),
    })?;
    let full = fresh_every.saturating_sub(1);
    conn.reuses_left = if conn.opened {
        full
    } else {
        fastrand::u32(0..=full)
    };
    conn.opened = true;
    conn.stream = stream.filter(|_| conn.reuses_left > 0);
    Ok(answer)
}

/// An idle kept connection the server has not closed nor written to. The
/// reactor already knows: no readiness means no syscall here.
fn idle_and_open(stream: &TcpStream) -> bool {
    matches!(stream.try_read(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

async fn connect(ep: &Endpoint) -> Result<TcpStream, Failure> {
    match ep.addr {
        Some(addr) => TcpStream::connect(addr).await.map_err(Failure::Connect),
        None => TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(Failure::Connect),
    }
}

/// How an exchange broke: before any byte of the answer (worth one retry on a
/// fresh connection when the connection was reused) or after.
enum Broke {
    Silent(String),
    Answered(String),
}

/// How the body's end is known (RFC 9112 §6.3).
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// Writes the request, reads the answer; hands the stream back when it may carry another.
async fn exchange(
    ep: &Endpoint,
    mut stream: TcpStream,
) -> Result<(Answer, Option<TcpStream>), Broke> {
    stream
        .write_all(&ep.request)
        .await
        .map_err(|e| Broke::Silent(e.to_string()))?;
    let mut buf = Vec::with_capacity(1024);
    let mut heard = false; // any byte of the answer yet
    let (status, framing, keep_alive) = loop {
        match parse_head(&buf) {
            Ok(None) => {}
            // A 1xx answer before the real one, which may already be in `buf`.
            Ok(Some(Head::Interim(len))) => {
                buf.drain(..len);
                continue;
            }
            Ok(Some(Head::Final {
                len,
                status,
                framing,
                keep_alive,
            })) => {
                buf.drain(..len);
                break (status, framing, keep_alive);
            }
            Err(why) => return Err(Broke::Answered(why)),
        }
        if let Err(why) = fill(&mut stream, &mut buf, HEAD_CAP).await {
            return Err(if heard {
                Broke::Answered(why)
            } else {
                Broke::Silent(why)
            });
        }
        heard = true;
    };
    let (body, complete) = read_body(&mut stream, buf, framing)
        .await
        .map_err(Broke::Answered)?;
    let stream = (keep_alive && complete).then_some(stream);
    Ok((Answer { status, body }, stream))
}

enum Head {
    /// A 1xx answer before the real one; its length.
    Interim(usize),
    Final {
        len: usize,
        status: u16,
        framing: Framing,
        keep_alive: bool,
    },
}

/// The response head at the start of `buf`, `None` while incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= HEAD_CAP => {
            return Err("response head over 64 KiB".into());
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("invalid HTTP response: {e}")),
    };
    let status = response.code.unwrap_or(0);
    if (100..200).contains(&status) && status != 101 {
        return Ok(Some(Head::Interim(len)));
    }
    let mut keep_alive = response.version == Some(1);
    let mut length = None;
    let mut chunked = None;
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("connection") {
            keep_alive &= !value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"));
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or("").trim();
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| format!("invalid content-length `{value}`"))?;
            if length.is_some_and(|old| old != n) {
                return Err("conflicting content-length headers".into());
            }
            length = Some(n);
        }
    }
    let framing = if status == 204 || status == 304 {
        Framing::Length(0)
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) | (None, None) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    Ok(Some(Head::Final {
        len,
        status,
        framing,
        keep_alive,
    }))
}

/// The body (up to the cap) from what was read past the head plus the stream;
/// `true` when it was read to its exact end, so the connection can carry another.
async fn read_body(
    stream: &mut TcpStream,
    mut raw: Vec<u8>,
    framing: Framing,
) -> Result<(Vec<u8>, bool), String> {
    match framing {
        Framing::Length(len) => {
            let want = usize::try_from(len)
                .unwrap_or(usize::MAX)
                .min(BODY_READ_CAP);
            while raw.len() < want {
                fill(stream, &mut raw, want).await?;
            }
            let exact = u64::try_from(raw.len()).is_ok_and(|n| n == len);
            raw.truncate(want);
            Ok((raw, exact))
        }
        Framing::UntilClose => {
            while raw.len() < BODY_READ_CAP {
                match fill(stream, &mut raw, BODY_READ_CAP).await {
                    Ok(()) => {}
                    Err(_) => break, // the close is the end of the body
                }
            }
            raw.truncate(BODY_READ_CAP);
            Ok((raw, false))
        }
        Framing::Chunked => read_chunked(stream, raw).await,
    }
}

async fn read_chunked(stream: &mut TcpStream, mut raw: Vec<u8>) -> Result<(Vec<u8>, bool), String> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let size = match httparse::parse_chunk_size(&raw[pos..]) {
            Ok(httparse::Status::Complete((used, size))) => {
                pos += used;
                size
            }
            Ok(httparse::Status::Partial) => {
                fill(stream, &mut raw, usize::MAX).await?;
                continue;
            }
            Err(_) => return Err("invalid chunk size in the body".into()),
        };
        if size == 0 {
            // The last chunk: trailers (rarely any) end with an empty line.
            loop {
                let rest = &raw[pos..];
                if rest.starts_with(b"\r\n") {
                    return Ok((body, raw.len() == pos + 2));
                }
                if let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
                    return Ok((body, raw.len() == pos + end + 4));
                }
                fill(stream, &mut raw, BODY_READ_CAP).await?;
            }
        }
        let room = BODY_READ_CAP - body.len();
        let take = usize::try_from(size).unwrap_or(usize::MAX).min(room);
        while raw.len() < pos + take {
            fill(stream, &mut raw, usize::MAX).await?;
        }
        body.extend_from_slice(&raw[pos..pos + take]);
        if body.len() >= BODY_READ_CAP {
            return Ok((body, false));
        }
        pos += take;
        while raw.len() < pos + 2 {
            fill(stream, &mut raw, usize::MAX).await?;
        }
        if &raw[pos..pos + 2] != b"\r\n" {
            return Err("a chunk does not end where its size says".into());
        }
        pos += 2;
        // Forget what was consumed so a long body does not pile up.
        raw.drain(..pos);
        pos = 0;
    }
}

/// Reads more into `buf`, growing it up to about `cap`; a close is an error.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, cap: usize) -> Result<(), String> {
    if buf.capacity() - buf.len() < 512 {
        buf.reserve(buf.len().clamp(1024, cap.max(1024)));
    }
    match stream.read_buf(buf).await {
        Ok(0) => Err("connection closed before message completed".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str) -> (Option<SocketAddr>, String) {
        let ep = Endpoint::new(&Url::parse(url).unwrap()).unwrap();
        (ep.addr, String::from_utf8(ep.request.to_vec()).unwrap())
    }

    #[test]
    fn the_request_is_built_once_with_path_query_and_host() {
        let (addr, req) = request("http://127.0.0.1:8080/health?deep=1#frag");
        assert_eq!(addr, Some("127.0.0.1:8080".parse().unwrap()));
        assert!(
            req.starts_with("GET /health?deep=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n"),
            "{req}"
        );
        assert!(req.ends_with("\r\n\r\n"));
        let (addr, req) = request("http://[::1]/");
        assert_eq!(addr, Some("[::1]:80".parse().unwrap()));
        assert!(req.contains("host: [::1]\r\n"), "{req}");
        let (addr, _) = request("http://localhost:9/x");
        assert_eq!(addr, None, "a name is resolved when connecting");
    }

    #[test]
    fn https_and_credentials_take_the_general_client() {
        for url in ["https://127.0.0.1/", "http://user:pw@127.0.0.1/"] {
            assert!(Endpoint::new(&Url::parse(url).unwrap()).is_none(), "{url}");
        }
    }
}
