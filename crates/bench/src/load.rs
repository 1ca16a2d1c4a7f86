//! The load generator: HTTP/1.1 over plain keep-alive connections, each sending one request,
//! reading the whole response and sending the next (a closed loop, as `wrk` does).
//!
//! The load generator shares the machine's two cores with the server and PostgreSQL, so what
//! it spends per request is taken from what it measures. A request here is written into a
//! buffer the connection keeps, and a response is read into another and parsed only as far as
//! its status and its end; a general HTTP client (reqwest) spent several times that per
//! request on its pool, headers and body handling.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request of a scenario.
pub struct Request {
    method: &'static str,
    path: String,
    body: Option<Vec<u8>>,
}

impl Request {
    pub fn get(path: String) -> Self {
        Self {
            method: "GET",
            path,
            body: None,
        }
    }

    pub fn post_json(path: String, body: &serde_json::Value) -> Self {
        Self {
            method: "POST",
            path,
            body: Some(body.to_string().into_bytes()),
        }
    }
}

/// Where the requests go, and the headers every request carries.
pub struct Target {
    addr: SocketAddr,
    host: String,
    authorization: Option<String>,
}

impl Target {
    pub fn new(addr: SocketAddr, authorization: Option<String>) -> Self {
        Self {
            addr,
            host: addr.to_string(),
            authorization,
        }
    }

    fn write(&self, out: &mut Vec<u8>, request: &Request) {
        out.clear();
        for part in [
            request.method,
            " ",
            &request.path,
            " HTTP/1.1\r\nHost: ",
            &self.host,
        ] {
            out.extend_from_slice(part.as_bytes());
        }
        if let Some(auth) = &self.authorization {
            out.extend_from_slice(b"\r\nAuthorization: ");
            out.extend_from_slice(auth.as_bytes());
        }
        if let Some(body) = &request.body {
            out.extend_from_slice(b"\r\nContent-Type: application/json\r\nContent-Length: ");
            out.extend_from_slice(body.len().to_string().as_bytes());
        }
        out.extend_from_slice(b"\r\n\r\n");
        if let Some(body) = &request.body {
            out.extend_from_slice(body);
        }
    }
}

/// How a response's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(usize),
    Chunked,
    /// Neither a length nor chunks: the body runs to the end of the connection.
    UntilClose,
}

/// A response's status line and headers, as far as the load generator needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    /// Bytes of the status line and headers, the blank line included.
    len: usize,
    body: Body,
    /// The server closes the connection after this response.
    close: bool,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The head of the response at the start of `buf`, or `None` while it is incomplete.
fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| bad("a header is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not an HTTP/1 response"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let mut body = if status == 204 || status == 304 || (100..200).contains(&status) {
        Body::Length(0)
    } else {
        Body::UntilClose
    };
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("a header without a colon"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") && body == Body::UntilClose {
            body = Body::Length(value.parse().map_err(|_| bad("a bad Content-Length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().ends_with("chunked")
        {
            body = Body::Chunked;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok(Some(Head {
        status,
        len: end + 4,
        body,
        close,
    }))
}

/// Where a chunked body that starts at `from` ends (past its last chunk and trailers), or
/// `None` while it is incomplete.
fn chunked_end(buf: &[u8], mut from: usize) -> io::Result<Option<usize>> {
    loop {
        let Some(line) = find(&buf[from..], b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&buf[from..from + line])
            .map_err(|_| bad("a chunk size is not text"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| bad("a chunk size is not hex"))?;
        from += line + 2;
        if size == 0 {
            // Trailers, if any, then a blank line.
            if buf.len() < from + 2 {
                return Ok(None);
            }
            if &buf[from..from + 2] == b"\r\n" {
                return Ok(Some(from + 2));
            }
            return Ok(find(&buf[from..], b"\r\n\r\n").map(|at| from + at + 4));
        }
        let next = from + size + 2;
        if buf.len() < next {
            return Ok(None);
        }
        if &buf[next - 2..next] != b"\r\n" {
            return Err(bad("a chunk does not end its line"));
        }
        from = next;
    }
}

/// One keep-alive connection, opened again after an error or a `Connection: close`.
struct Connection {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Connection {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Sends `request` and reads the whole response; returns its status.
    async fn exchange(&mut self, request: &[u8]) -> io::Result<u16> {
        let result = self.try_exchange(request).await;
        if !matches!(result, Ok((_, true))) {
            self.stream = None;
        }
        result.map(|(status, _)| status)
    }

    /// The status, and whether the connection can carry another request.
    async fn try_exchange(&mut self, request: &[u8]) -> io::Result<(u16, bool)> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                self.stream.insert(stream)
            }
        };
        stream.write_all(request).await?;
        let buf = &mut self.buf;
        buf.clear();
        let head = loop {
            if read_more(stream, buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if let Some(head) = parse_head(buf)? {
                break head;
            }
        };
        match head.body {
            Body::Length(n) => {
                while buf.len() < head.len + n {
                    if read_more(stream, buf).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                if buf.len() > head.len + n {
                    return Err(bad("bytes after the response"));
                }
            }
            Body::Chunked => loop {
                if let Some(end) = chunked_end(buf, head.len)? {
                    if buf.len() > end {
                        return Err(bad("bytes after the response"));
                    }
                    break;
                }
                if read_more(stream, buf).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            },
            Body::UntilClose => while read_more(stream, buf).await? > 0 {},
        }
        Ok((head.status, !head.close && head.body != Body::UntilClose))
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(buf.capacity().max(16 * 1024));
    }
    stream.read_buf(buf).await
}

/// What one scenario measured.
pub struct Measured {
    /// Each request's time from its first byte sent to its response's last byte read, µs.
    pub latencies: Vec<u32>,
    pub errors: usize,
    pub elapsed: Duration,
}

/// Sends requests over `connections` connections for `duration`, or until `limit` requests
/// have been made; `next(n)` gives the n-th request. A response with a status outside 2xx,
/// or a connection that fails, counts as an error.
pub async fn run<F>(
    target: Arc<Target>,
    connections: usize,
    duration: Duration,
    limit: usize,
    next: F,
) -> Measured
where
    F: Fn(usize) -> Request + Send + Sync + 'static,
{
    let next = Arc::new(next);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut handles = Vec::new();
    for _ in 0..connections {
        let (target, next, counter) = (target.clone(), next.clone(), counter.clone());
        handles.push(tokio::spawn(async move {
            let mut connection = Connection::new(target.addr);
            let mut out = Vec::with_capacity(1024);
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if n >= limit {
                    break;
                }
                target.write(&mut out, &next(n));
                let sent = Instant::now();
                match connection.exchange(&out).await {
                    Ok(status) if (200..300).contains(&status) => {}
                    _ => errors += 1,
                }
                latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            (latencies, errors)
        }));
    }
    let mut measured = Measured {
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for handle in handles {
        if let Ok((latencies, errors)) = handle.await {
            measured.latencies.extend(latencies);
            measured.errors += errors;
        }
    }
    measured.elapsed = started.elapsed();
    measured
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn heads_give_status_length_and_whether_the_connection_closes() {
        let head = |s: &str| parse_head(s.as_bytes()).ok().flatten();
        assert_eq!(head("HTTP/1.1 200 OK\r\ncontent-length: 12"), None);
        assert_eq!(
            head("HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n{}"),
            Some(Head {
                status: 200,
                len: 39,
                body: Body::Length(12),
                close: false
            })
        );
        let chunked =
            head("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        assert_eq!(
            chunked.map(|h| (h.status, h.body, h.close)),
            Some((201, Body::Chunked, true))
        );
        assert_eq!(
            head("HTTP/1.1 204 No Content\r\n\r\n").map(|h| h.body),
            Some(Body::Length(0))
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\ndate: x\r\n\r\n").map(|h| h.body),
            Some(Body::UntilClose)
        );
        assert!(parse_head(b"SSH-2.0 hello\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: many\r\n\r\n").is_err());
    }

    #[test]
    fn chunked_bodies_end_after_their_last_chunk_and_trailers() {
        let body = b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n";
        assert_eq!(chunked_end(body, 0).ok().flatten(), Some(body.len()));
        for cut in 0..body.len() {
            assert_eq!(
                chunked_end(&body[..cut], 0).ok().flatten(),
                None,
                "cut at {cut}"
            );
        }
        let trailers = b"1\r\na\r\n0\r\nExpires: never\r\n\r\n";
        assert_eq!(
            chunked_end(trailers, 0).ok().flatten(),
            Some(trailers.len())
        );
        assert!(chunked_end(b"zz\r\n", 0).is_err());
        assert!(chunked_end(b"1\r\nab\r\n", 0).is_err());
    }

    /// A server that answers each request with the next of `responses`, written in pieces
    /// of `piece` bytes; it reads one request head (and no body) per response.
    async fn serve(responses: Vec<&'static str>, piece: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let mut responses = responses.into_iter();
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = Vec::new();
                'connection: for response in responses.by_ref() {
                    while find(&request, b"\r\n\r\n").is_none() {
                        let mut bytes = [0u8; 1024];
                        match socket.read(&mut bytes).await {
                            Ok(0) | Err(_) => break 'connection,
                            Ok(n) => request.extend_from_slice(&bytes[..n]),
                        }
                    }
                    request.clear();
                    for part in response.as_bytes().chunks(piece) {
                        if socket.write_all(part).await.is_err() {
                            break 'connection;
                        }
                        tokio::task::yield_now().await;
                    }
                    if response.contains("Connection: close") {
                        break;
                    }
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn responses_are_read_whole_in_pieces_and_across_reconnections() {
        let addr = serve(
            vec![
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            ],
            3,
        )
        .await;
        let target = Target::new(addr, Some("Bearer t".into()));
        let mut connection = Connection::new(addr);
        let mut out = Vec::new();
        let mut statuses = Vec::new();
        for _ in 0..4 {
            target.write(&mut out, &Request::get("/x".into()));
            statuses.push(connection.exchange(&out).await.ok());
        }
        assert_eq!(statuses, [Some(200), Some(200), Some(404), Some(201)]);
    }

    #[tokio::test]
    async fn a_scenario_counts_requests_and_errors() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let addr = serve(
            vec![
                ok,
                ok,
                ok,
                "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
                ok,
            ],
            1024,
        )
        .await;
        let target = Arc::new(Target::new(addr, None));
        let measured = run(target, 1, Duration::from_secs(10), 5, |n| {
            Request::post_json(format!("/{n}"), &serde_json::json!({"n": n}))
        })
        .await;
        assert_eq!(measured.latencies.len(), 5);
        assert_eq!(measured.errors, 1);
    }

    #[test]
    fn requests_carry_host_authorization_and_their_body() {
        let target = Target::new(
            "127.0.0.1:8080".parse().expect("address"),
            Some("Bearer abc".into()),
        );
        let mut out = Vec::new();
        target.write(
            &mut out,
            &Request::post_json("/api/v1/tasks".into(), &serde_json::json!({"a": 1})),
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer abc\r\n\
             Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        );
    }
}
