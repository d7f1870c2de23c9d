//! A blocking HTTP/1.1 client (ureq) with the settings a load driver needs: keep-alive, no proxy
//! (traffic must go straight to the target), no redirects (they could lead off loopback), every
//! status returned as a value, and bounded response bodies.

use std::time::Duration;

/// Largest response body read (query answers); the rest of a larger one is an error.
const MAX_BODY: u64 = 512 << 20;

/// A server's answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// The `X-Influxdb-Build` header (`/ping` answers: `OSS`, `Enterprise`, or `foresight`).
    pub(crate) influx_build: Option<String>,
}

/// One connection pool; give each thread its own so requests never wait for each other.
#[derive(Debug)]
pub(crate) struct Client {
    agent: ureq::Agent,
    /// `Authorization` header value sent with every request.
    auth: Option<String>,
}

impl Client {
    pub(crate) fn new(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .user_agent("foresight-bench")
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            auth: None,
        }
    }

    /// This client, sending `token` as a bearer token with every request (`None`: none).
    pub(crate) fn with_token(mut self, token: Option<&str>) -> Self {
        self.auth = token.map(|t| format!("Bearer {t}"));
        self
    }

    /// POSTs `body`; a transport failure (refused, reset, timed out) is an `Err` with its text.
    pub(crate) fn post(&self, url: &str, content_type: &str, body: &[u8]) -> Result<Reply, String> {
        let mut req = self.agent.post(url).header("Content-Type", content_type);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        read(req.send(body).map_err(|e| e.to_string())?)
    }

    /// POSTs `body` with these headers.
    pub(crate) fn post_with(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Reply, String> {
        let mut req = self.agent.post(url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send(body).map_err(|e| e.to_string())?)
    }

    /// GETs `url` with the query parameters `params` (URL-encoded here).
    pub(crate) fn get(&self, url: &str, params: &[(&str, &str)]) -> Result<Reply, String> {
        let mut req = self.agent.get(url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        for (k, v) in params {
            req = req.query(*k, *v);
        }
        let resp = req.call().map_err(|e| e.to_string())?;
        read(resp)
    }
}

fn read(mut resp: ureq::http::Response<ureq::Body>) -> Result<Reply, String> {
    let status = resp.status().as_u16();
    let influx_build = resp
        .headers()
        .get("X-Influxdb-Build")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    Ok(Reply {
        status,
        body,
        influx_build,
    })
}

/// The first `max` bytes of a body as text, for error reports.
pub(crate) fn snippet(body: &[u8], max: usize) -> String {
    let cut = &body[..body.len().min(max)];
    let mut s = String::from_utf8_lossy(cut).trim().replace('\n', " ");
    if body.len() > max {
        s.push_str(" ...");
    }
    s
}
