//! A minimal HTTP/1.1 client for the load generator: one persistent keep-alive
//! connection per task over a raw `TcpStream`, requests with `Content-Length`, and a
//! response parser that reads the status line, the headers and a `Content-Length`
//! body. Nothing else (no chunked bodies, no TLS, no redirects): it talks only to the
//! `lineout serve` it started, so a full client library would only add overhead.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    #[error("unsupported response: {0}")]
    Unsupported(&'static str),
    #[error("connection closed by the server")]
    Closed,
    #[error("i/o: {0}")]
    Io(String),
}

/// A complete response at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes of the status line and headers, including the blank line.
    pub head_len: usize,
    pub body_len: usize,
    /// The server said `Connection: close`.
    pub close: bool,
}

impl Head {
    /// Bytes of the whole response.
    pub fn total_len(&self) -> usize {
        self.head_len + self.body_len
    }
}

/// Parses the response at the start of `buf`: `Ok(None)` when more bytes are needed,
/// else the head (the body may not be complete yet: check [`Head::total_len`]).
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HttpError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD { Err(HttpError::Malformed("head too long")) } else { Ok(None) };
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::Malformed("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("not an HTTP/1.x status line"));
    }
    let status: u16 = parts
        .next()
        .filter(|s| s.len() == 3)
        .and_then(|s| s.parse().ok())
        .ok_or(HttpError::Malformed("bad status code"))?;
    let mut body_len: Option<usize> = None;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HttpError::Malformed("header without ':'"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| HttpError::Malformed("bad content-length"))?;
            if body_len.is_some_and(|b| b != n) {
                return Err(HttpError::Malformed("conflicting content-length headers"));
            }
            body_len = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Unsupported("transfer-encoding"));
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"));
        }
    }
    let body_len = match (status, body_len) {
        (100..=199 | 204 | 304, _) => 0,
        (_, Some(n)) if n > MAX_BODY => return Err(HttpError::Unsupported("body too large")),
        (_, Some(n)) => n,
        (_, None) => return Err(HttpError::Unsupported("response without content-length")),
    };
    Ok(Some(Head { status, head_len: end + 4, body_len, close }))
}

/// Builds a request; the body, if any, is sent as `application/json`.
pub fn request(method: &str, path: &str, host: &str, token: Option<&str>, body: Option<&str>) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    if let Some(t) = token {
        out.push_str("Authorization: Bearer ");
        out.push_str(t);
        out.push_str("\r\n");
    }
    match body {
        Some(b) => {
            out.push_str("Content-Type: application/json\r\nContent-Length: ");
            out.push_str(&b.len().to_string());
            out.push_str("\r\n\r\n");
            out.push_str(b);
        }
        None => out.push_str("\r\n"),
    }
    out.into_bytes()
}

/// One keep-alive connection.
pub struct Client {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    chunk: Box<[u8]>,
}

/// A response: its status and body (borrowed from the client's buffer).
#[derive(Debug)]
pub struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, stream: None, buf: Vec::with_capacity(16 * 1024), chunk: vec![0; 16 * 1024].into_boxed_slice() }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Sends one request and reads its response, connecting first if needed. On any
    /// error the connection is dropped; the next call reconnects.
    pub async fn send(&mut self, req: &[u8]) -> Result<Response<'_>, HttpError> {
        match self.exchange(req).await {
            Ok(head) => {
                if head.close {
                    self.stream = None;
                }
                let body = &self.buf[head.head_len..head.total_len()];
                Ok(Response { status: head.status, body })
            }
            Err(e) => {
                self.stream = None;
                self.buf.clear();
                Err(e)
            }
        }
    }

    async fn exchange(&mut self, req: &[u8]) -> Result<Head, HttpError> {
        // Whatever the previous response left (nothing, with this server) is dropped.
        self.buf.clear();
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await.map_err(|e| HttpError::Io(e.to_string()))?;
            s.set_nodelay(true).map_err(|e| HttpError::Io(e.to_string()))?;
            self.stream = Some(s);
        }
        let Some(stream) = self.stream.as_mut() else { return Err(HttpError::Closed) };
        stream.write_all(req).await.map_err(|e| HttpError::Io(e.to_string()))?;
        loop {
            if let Some(head) = parse_head(&self.buf)?
                && self.buf.len() >= head.total_len()
            {
                return Ok(head);
            }
            let n = stream.read(&mut self.chunk).await.map_err(|e| HttpError::Io(e.to_string()))?;
            if n == 0 {
                return Err(HttpError::Closed);
            }
            self.buf.extend_from_slice(&self.chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_response_is_parsed() {
        let r = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}";
        let head = parse_head(r).ok().flatten();
        assert_eq!(head, Some(Head { status: 201, head_len: 75, body_len: 7, close: false }));
        assert_eq!(head.map(|h| h.total_len()), Some(r.len()));
    }

    #[test]
    fn a_partial_head_asks_for_more() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-le"), Ok(None));
        assert_eq!(parse_head(b""), Ok(None));
    }

    #[test]
    fn a_partial_body_is_detected_by_length() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345";
        let head = parse_head(r).ok().flatten();
        assert!(head.is_some_and(|h| h.total_len() > r.len()));
    }

    #[test]
    fn pipelined_bytes_after_the_response_are_not_part_of_it() {
        let r = b"HTTP/1.1 204 No Content\r\nDate: x\r\n\r\nHTTP/1.1 200 OK\r\n";
        let head = parse_head(r).ok().flatten();
        assert_eq!(head.map(|h| (h.status, h.body_len, h.total_len())), Some((204, 0, 36)));
    }

    #[test]
    fn connection_close_and_http_1_0_are_noticed() {
        let close = parse_head(
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: keep-alive, Close\r\ncontent-length: 0\r\n\r\n",
        );
        assert_eq!(close.ok().flatten().map(|h| (h.status, h.close)), Some((503, true)));
        let old = parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(old.ok().flatten().map(|h| h.close), Some(true));
    }

    #[test]
    fn malformed_and_unsupported_responses_are_errors() {
        assert!(matches!(parse_head(b"SPDY/3 200 OK\r\n\r\n"), Err(HttpError::Malformed(_))));
        assert!(matches!(parse_head(b"HTTP/1.1 2x0 OK\r\n\r\n"), Err(HttpError::Malformed(_))));
        assert!(matches!(parse_head(b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n"), Err(HttpError::Malformed(_))));
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(HttpError::Unsupported(_))
        ));
        assert!(matches!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n"), Err(HttpError::Unsupported(_))));
        assert!(matches!(parse_head(&vec![b'x'; MAX_HEAD + 1]), Err(HttpError::Malformed(_))));
    }

    #[test]
    fn requests_carry_length_token_and_body() {
        let r = request("POST", "/api/v1/cases", "127.0.0.1:1", Some("lo_x"), Some("{}"));
        assert_eq!(
            String::from_utf8_lossy(&r),
            "POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1:1\r\nAuthorization: Bearer lo_x\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
        let g = request("GET", "/health", "h", None, None);
        assert_eq!(String::from_utf8_lossy(&g), "GET /health HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    #[tokio::test]
    async fn the_client_talks_to_a_server_over_keep_alive() -> Result<(), Box<dyn std::error::Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await?;
            let mut got = Vec::new();
            let mut chunk = [0u8; 1024];
            // Two requests on one connection, answered as they arrive, the second in two writes.
            for answer in [&b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"[..], b"HTTP/1.1 404 Not Found\r\n"] {
                while got.windows(4).filter(|w| w == b"\r\n\r\n").count() < 1 {
                    let n = s.read(&mut chunk).await?;
                    got.extend_from_slice(&chunk[..n]);
                }
                got.clear();
                s.write_all(answer).await?;
            }
            s.write_all(b"Content-Length: 3\r\n\r\nnop").await?;
            Ok::<_, std::io::Error>(())
        });
        let mut client = Client::new(addr);
        let req = request("GET", "/", &client.host(), None, None);
        let first = client.send(&req).await?;
        assert_eq!((first.status, first.body), (201, &b"ok"[..]));
        let second = client.send(&req).await?;
        assert_eq!((second.status, second.body), (404, &b"nop"[..]));
        server.await??;
        Ok(())
    }
}
