//! A minimal HTTP/1.1 client over a TCP stream, decoding chunked bodies by hand so tests can assert on
//! framing and read watch streams line by line.

use std::time::Duration;

use berth_sim::Sim;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A complete response.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub async fn send(
        sim: &Sim,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Raw {
        let mut stream = TcpStream::connect(sim.addr()).await.unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            sim.addr()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        if let Some(b) = body {
            stream.write_all(b).await.unwrap();
        }
        let mut data = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut data))
            .await
            .unwrap()
            .unwrap();
        let (status, headers, rest) = parse_head(&data);
        let chunked = header(&headers, "transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_vec()
        };
        Raw {
            status,
            headers,
            body,
        }
    }

    pub async fn get(sim: &Sim, path: &str) -> Raw {
        Raw::send(sim, "GET", path, &[], None).await
    }

    pub async fn get_with(sim: &Sim, path: &str, headers: &[(&str, &str)]) -> Raw {
        Raw::send(sim, "GET", path, headers, None).await
    }

    pub async fn post(sim: &Sim, path: &str, body: &Value) -> Raw {
        let b = serde_json::to_vec(body).unwrap();
        Raw::send(
            sim,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            Some(&b),
        )
        .await
    }

    pub async fn put(sim: &Sim, path: &str, body: &Value) -> Raw {
        let b = serde_json::to_vec(body).unwrap();
        Raw::send(
            sim,
            "PUT",
            path,
            &[("Content-Type", "application/json")],
            Some(&b),
        )
        .await
    }

    pub async fn patch(sim: &Sim, path: &str, content_type: &str, body: &Value) -> Raw {
        let b = serde_json::to_vec(body).unwrap();
        Raw::send(
            sim,
            "PATCH",
            path,
            &[("Content-Type", content_type)],
            Some(&b),
        )
        .await
    }

    pub async fn delete(sim: &Sim, path: &str, body: &Value) -> Raw {
        let b = serde_json::to_vec(body).unwrap();
        Raw::send(
            sim,
            "DELETE",
            path,
            &[("Content-Type", "application/json")],
            Some(&b),
        )
        .await
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn parse_head(data: &[u8]) -> (u16, Vec<(String, String)>, &[u8]) {
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, headers, &data[end + 4..])
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..pos]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[pos + 2..pos + 2 + size]);
        data = &data[pos + 2 + size + 2..];
    }
    out
}

/// An open watch (or any streaming) response read incrementally.
pub struct WatchStream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    stream: TcpStream,
    raw: Vec<u8>,
    body: Vec<u8>,
    /// The terminating chunk was received.
    pub ended: bool,
}

impl WatchStream {
    pub async fn open(sim: &Sim, path: &str, headers: &[(&str, &str)]) -> WatchStream {
        let mut stream = TcpStream::connect(sim.addr()).await.unwrap();
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", sim.addr());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "connection closed before headers");
            raw.extend_from_slice(&buf[..n]);
        }
        let (status, headers, rest) = parse_head(&raw);
        let rest = rest.to_vec();
        WatchStream {
            status,
            headers,
            stream,
            raw: rest,
            body: Vec::new(),
            ended: false,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Moves complete chunks from `raw` to `body`.
    fn decode(&mut self) {
        loop {
            let Some(pos) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&self.raw[..pos]).unwrap().trim(), 16)
                    .unwrap();
            if size == 0 {
                self.ended = true;
                self.raw.clear();
                return;
            }
            if self.raw.len() < pos + 2 + size + 2 {
                return;
            }
            self.body
                .extend_from_slice(&self.raw[pos + 2..pos + 2 + size]);
            self.raw.drain(..pos + 2 + size + 2);
        }
    }

    /// The next newline-terminated line, or None when the stream ended or `wait` passed.
    pub async fn next_line(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut buf = [0u8; 65536];
        loop {
            self.decode();
            if let Some(pos) = self.body.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.body.drain(..=pos).collect();
                return Some(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
            }
            if self.ended {
                return None;
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await;
            match read {
                Ok(Ok(0)) => {
                    self.ended = true;
                    return None;
                }
                Ok(Ok(n)) => self.raw.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => panic!("read failed: {e}"),
                Err(_) => return None,
            }
        }
    }

    /// The next event as JSON (panics when none arrives in time).
    pub async fn next_event(&mut self, wait: Duration) -> Value {
        let line = self.next_line(wait).await.expect("no watch event arrived");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("event line is not one JSON document ({e}): {line}"))
    }

    /// The next event that is not a BOOKMARK.
    pub async fn next_change(&mut self, wait: Duration) -> Value {
        loop {
            let e = self.next_event(wait).await;
            if e["type"] != "BOOKMARK" {
                return e;
            }
        }
    }
}
