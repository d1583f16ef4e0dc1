//! A loopback HTTP server for test pages. Each page is served with the headers the test gives it
//! (a strict Content-Security-Policy, for example). Binding a fresh port per server gives each
//! test its own origin.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone)]
pub struct Page {
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Page {
    pub fn html(body: &str) -> Page {
        Page { body: body.to_owned(), headers: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Page {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A running server; it stops when the test's runtime ends.
pub struct Site {
    pub origin: String,
}

impl Site {
    pub async fn start(pages: Vec<(&str, Page)>) -> Site {
        let pages: Arc<HashMap<String, Page>> =
            Arc::new(pages.into_iter().map(|(p, page)| (p.to_owned(), page)).collect());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let pages = pages.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&buf[..n]);
                    let path =
                        head.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_owned();
                    let response = match pages.get(&path) {
                        Some(page) => {
                            let extra: String = page.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{}",
                                page.body.len(),
                                page.body
                            )
                        }
                        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                    };
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Site { origin }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}
