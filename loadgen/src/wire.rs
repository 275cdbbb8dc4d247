//! A lean HTTP/1.1 client for the measured phases: one keep-alive connection per simulated
//! client, each request written as one buffer, each answer parsed with `httparse`.
//!
//! The load generator shares the machine's two cores with the daemon and PostgreSQL, so every
//! microsecond it spends per request is one the daemon under test cannot use. Measured side by
//! side (docs/performance.md), reqwest — kept for set-up and probes — spent 41–53 µs of CPU per
//! health check (more than the daemon's 23–33 µs) and 360–420 µs per full cycle; this client
//! spends 16–17 and ≈ 145.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// Longest wait for one answer before the request counts as a transport failure.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Connections to one daemon, one slot per client of a measured phase.
pub struct Wire {
    addr: SocketAddr,
    host: String,
    slots: Vec<Mutex<Option<Conn>>>,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A request ready to be written.
pub struct Request {
    head: String,
    body: Vec<u8>,
}

/// What came back: the status and the body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Wire {
    /// Connections to the daemon at `base` (`http://127.0.0.1:port`) for `clients` clients.
    pub fn new(base: &reqwest::Url, clients: usize) -> anyhow::Result<Wire> {
        if base.scheme() != "http" {
            bail!("the lean client speaks plain HTTP only, not {}", base.scheme());
        }
        let addr = base
            .socket_addrs(|| Some(80))
            .context("resolving the base URL")?
            .into_iter()
            .next()
            .context("the base URL has no address")?;
        Ok(Wire {
            addr,
            host: base.host_str().unwrap_or("127.0.0.1").to_string(),
            slots: (0..clients.max(1)).map(|_| Mutex::new(None)).collect(),
        })
    }

    /// A request line and the Host header; add headers and a body with the builder methods.
    pub fn request(&self, method: &str, path: &str) -> Request {
        let mut head = String::with_capacity(256);
        head.push_str(method);
        head.push(' ');
        head.push_str(path);
        head.push_str(" HTTP/1.1\r\nhost: ");
        head.push_str(&self.host);
        head.push_str("\r\n");
        Request { head, body: Vec::new() }
    }

    /// Sends `request` on client `slot`'s connection (opened on first use, and again after a
    /// failure) and reads the whole answer. `Err` is a transport failure.
    pub async fn send(&self, slot: usize, request: &Request) -> Result<Answer, String> {
        let mut conn = self.slots[slot % self.slots.len()].lock().await;
        let result = tokio::time::timeout(TIMEOUT, async {
            if conn.is_none() {
                let stream = TcpStream::connect(self.addr).await.map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                *conn = Some(Conn {
                    stream,
                    buf: Vec::with_capacity(8192),
                });
            }
            let c = conn.as_mut().expect("connection was just opened");
            c.exchange(request).await
        })
        .await
        .unwrap_or_else(|_| Err("timeout".to_string()));
        match result {
            Ok((answer, keep_alive)) => {
                if !keep_alive {
                    *conn = None;
                }
                Ok(answer)
            }
            Err(e) => {
                *conn = None;
                Err(e)
            }
        }
    }
}

impl Request {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.head.push_str(name);
        self.head.push_str(": ");
        self.head.push_str(value);
        self.head.push_str("\r\n");
        self
    }

    pub fn bearer(self, authorization: &str) -> Self {
        self.header("authorization", authorization)
    }

    pub fn json(self, body: &str) -> Self {
        self.body_of("application/json", body)
    }

    /// An `application/x-www-form-urlencoded` body of these (unencoded) pairs.
    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", urlencoded(k), urlencoded(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.body_of("application/x-www-form-urlencoded", &body)
    }

    fn body_of(self, content_type: &str, body: &str) -> Self {
        let mut request = self.header("content-type", content_type);
        request.body = body.as_bytes().to_vec();
        request
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.head.len() + 32 + self.body.len());
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

/// Percent-encodes everything but the unreserved characters.
fn urlencoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How the body of an answer is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

impl Conn {
    /// Writes the request and reads one answer; also whether the connection may be reused.
    async fn exchange(&mut self, request: &Request) -> Result<(Answer, bool), String> {
        self.stream
            .write_all(&request.bytes())
            .await
            .map_err(|e| e.to_string())?;
        self.buf.clear();
        let (status, head_len, framing, keep_alive) = loop {
            self.fill().await?;
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf).map_err(|e| e.to_string())? {
                httparse::Status::Partial => continue,
                httparse::Status::Complete(len) => {
                    let status = response.code.unwrap_or(0);
                    let (framing, close) = framing_of(status, response.headers)?;
                    let keep_alive = response.version == Some(1) && !close;
                    break (status, len, framing, keep_alive);
                }
            }
        };
        self.buf.drain(..head_len);
        let body = match framing {
            Framing::Length(n) => {
                while self.buf.len() < n {
                    self.fill().await?;
                }
                self.buf.truncate(n);
                std::mem::take(&mut self.buf)
            }
            Framing::Chunked => self.read_chunked().await?,
            Framing::UntilClose => {
                while self.fill().await.is_ok() {}
                std::mem::take(&mut self.buf)
            }
        };
        let keep_alive = keep_alive && !matches!(framing, Framing::UntilClose);
        Ok((Answer { status, body }, keep_alive))
    }

    /// Reads more bytes into the buffer; the end of the stream is an error.
    async fn fill(&mut self) -> Result<(), String> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8192);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err("connection closed".to_string()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Decodes a chunked body that starts at the front of the buffer.
    async fn read_chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let (size_len, size) = loop {
                match httparse::parse_chunk_size(&self.buf[at..]) {
                    Ok(httparse::Status::Complete((len, size))) => break (len, size as usize),
                    Ok(httparse::Status::Partial) => self.fill().await?,
                    Err(_) => return Err("bad chunk size".to_string()),
                }
            };
            at += size_len;
            // The chunk's data and its CRLF (for the last chunk: the empty trailer's CRLF).
            while self.buf.len() < at + size + 2 {
                self.fill().await?;
            }
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&self.buf[at..at + size]);
            at += size + 2;
        }
    }
}

/// The body's framing and whether the server closes the connection after this answer.
fn framing_of(status: u16, headers: &[httparse::Header]) -> Result<(Framing, bool), String> {
    let mut framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Length(0)
    } else {
        Framing::UntilClose
    };
    let mut close = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).map_err(|_| "bad content-length")?;
            framing = Framing::Length(text.trim().parse().map_err(|_| "bad content-length")?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") && h.value.eq_ignore_ascii_case(b"chunked") {
            framing = Framing::Chunked;
            break;
        } else if h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close") {
            close = true;
        }
    }
    Ok((framing, close))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request on one connection with the next canned answer.
    async fn serve(answers: Vec<&'static [u8]>) -> (reqwest::Url, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = reqwest::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for answer in answers {
                let mut buf = vec![0u8; 4096];
                let mut len = 0;
                // Read one request: its head, then the body its content-length announces.
                loop {
                    len += socket.read(&mut buf[len..]).await.unwrap();
                    let text = String::from_utf8_lossy(&buf[..len]).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let body_len: usize = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map(|v| v.trim().parse().unwrap())
                            .unwrap_or(0);
                        if len >= end + 4 + body_len {
                            seen.push(text);
                            break;
                        }
                    }
                }
                socket.write_all(answer).await.unwrap();
            }
            seen
        });
        (url, task)
    }

    #[tokio::test]
    async fn reads_sized_and_chunked_answers_on_one_connection() {
        let (url, server) = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"id\": 42}\n",
            b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n4\r\nnone\r\n3\r\n!!!\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ])
        .await;
        let wire = Wire::new(&url, 1).unwrap();
        let post = wire.request("POST", "/signals").bearer("Bearer t").json("{\"a\":1}");
        let first = wire.send(0, &post).await.unwrap();
        assert_eq!((first.status, first.body.as_slice()), (200, &b"{\"id\": 42}\n"[..]));
        let second = wire.send(0, &wire.request("GET", "/x")).await.unwrap();
        assert_eq!((second.status, second.body.as_slice()), (404, &b"none!!!"[..]));
        let third = wire.send(0, &wire.request("GET", "/y")).await.unwrap();
        assert_eq!((third.status, third.body.len()), (204, 0));
        let seen = server.await.unwrap();
        assert!(seen[0].starts_with("POST /signals HTTP/1.1\r\nhost: 127.0.0.1\r\n"));
        assert!(seen[0].contains("authorization: Bearer t\r\n"));
        assert!(seen[0].contains("content-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}"));
        assert!(seen[1].contains("content-length: 0\r\n\r\n"));
    }

    #[test]
    fn form_bodies_are_percent_encoded() {
        let wire = Wire::new(&reqwest::Url::parse("http://127.0.0.1:9").unwrap(), 1).unwrap();
        let request = wire
            .request("POST", "/auth/login")
            .form(&[("username", "a+b@x.test"), ("password", "p w&=")]);
        let text = String::from_utf8(request.bytes()).unwrap();
        assert!(text.contains("content-type: application/x-www-form-urlencoded\r\n"));
        assert!(text.ends_with("content-length: 44\r\n\r\nusername=a%2Bb%40x.test&password=p%20w%26%3D"));
    }

    #[tokio::test]
    async fn a_closed_connection_is_a_transport_failure_and_is_reopened() {
        let (url, server) = serve(vec![
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
        ])
        .await;
        let wire = Wire::new(&url, 1).unwrap();
        let answer = wire.send(0, &wire.request("GET", "/")).await.unwrap();
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"ok"[..]));
        server.await.unwrap();
        // The server is gone: the next request fails instead of hanging or reusing the socket.
        assert!(wire.send(0, &wire.request("GET", "/")).await.is_err());
    }
}
