//! Outbound HTTP, a capability: `wasi:http/outgoing-handler` is linked for every component (so one plugin can be
//! uploaded once and granted per process), but every request is checked against the origins the step's definition
//! lists (`http: {allow: [...]}`), and refused with `HTTP-request-denied` when it is not one of them. A step
//! without a grant can send nothing. Only `http`/`https` are spoken; waiting on the network costs wall time (the
//! step's timeout), never fuel.

use std::fmt;
use std::future::Future;
use wasmtime_wasi_http::WasiHttpHooks;

/// `scheme://host[:port]`: where a step may send requests.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct HttpOrigin {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or IP address, lowercase.
    pub host: String,
    /// The port (the scheme's default when the origin does not name one).
    pub port: u16,
}

/// Why an origin was not understood.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an origin such as https://api.example.com or http://127.0.0.1:8080 ({1})")]
pub struct BadOrigin(String, &'static str);

impl std::str::FromStr for HttpOrigin {
    type Err = BadOrigin;

    fn from_str(text: &str) -> Result<Self, BadOrigin> {
        let bad = |why| BadOrigin(text.to_string(), why);
        let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(bad("an origin has no path, query, user or spaces"));
        }
        let parse_port = |p: &str| p.parse::<u16>().map_err(|_| bad("the port is not a number from 1 to 65535"));
        // An IPv6 literal is bracketed and full of colons; only a colon after its `]` starts the port.
        let (host, port) = if rest.starts_with('[') {
            let end = rest.find(']').ok_or_else(|| bad("an IPv6 address needs its closing `]`"))?;
            let (host, after) = rest.split_at(end + 1);
            match after.strip_prefix(':') {
                Some(port) => (host, parse_port(port)?),
                None if after.is_empty() => (host, default_port),
                None => return Err(bad("unexpected text after the IPv6 address")),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (host, parse_port(port)?),
                None => (rest, default_port),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(bad("the host or port is missing"));
        }
        Ok(HttpOrigin { scheme, host: host.to_ascii_lowercase(), port })
    }
}

impl fmt::Display for HttpOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl HttpOrigin {
    /// The origin a request goes to.
    fn of(uri: &http::Uri) -> Option<HttpOrigin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = uri.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        })?;
        Some(HttpOrigin { scheme, host: uri.host()?.to_ascii_lowercase(), port })
    }
}

/// The wasi-http hooks of one attempt: its allow-list.
#[derive(Debug, Default)]
pub struct HttpGrant {
    allow: std::sync::Arc<[HttpOrigin]>,
    /// Requests refused in this attempt, for the log.
    pub refused: u32,
}

impl HttpGrant {
    /// A grant of these origins (none: every request is refused).
    pub fn new(allow: std::sync::Arc<[HttpOrigin]>) -> Self {
        HttpGrant { allow, refused: 0 }
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
)>;

impl WasiHttpHooks for HttpGrant {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let origin = HttpOrigin::of(request.uri());
        let allowed = origin.as_ref().is_some_and(|o| self.allow.contains(o));
        if !allowed {
            self.refused += 1;
            let target = origin.map_or_else(|| request.uri().to_string(), |o| o.to_string());
            tracing::warn!(target: "alur::guest::http", %target, "outbound request refused: not in the step's http.allow");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((res.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> HttpOrigin {
        s.parse().unwrap()
    }

    #[test]
    fn origins_parse_with_default_ports_and_lowercase() {
        assert_eq!(origin("https://API.Example.com").to_string(), "https://api.example.com:443");
        assert_eq!(origin("http://127.0.0.1:8089/").to_string(), "http://127.0.0.1:8089");
        assert_eq!(origin("http://[::1]:9000").host, "[::1]");
        assert_eq!(origin("http://[::1]").port, 80);
    }

    #[test]
    fn bad_origins_say_why() {
        for bad in
            ["api.example.com", "ftp://x", "https://x/path", "https://x:0", "https://x:http", "https://", "https://u@x"]
        {
            assert!(bad.parse::<HttpOrigin>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_request_matches_only_its_exact_origin() {
        let uri: http::Uri = "http://127.0.0.1:8089/v1/tracking/1".parse().unwrap();
        assert_eq!(HttpOrigin::of(&uri), Some(origin("http://127.0.0.1:8089")));
        let uri: http::Uri = "https://api.example.com/x".parse().unwrap();
        assert_eq!(HttpOrigin::of(&uri), Some(origin("https://api.example.com")));
        assert_ne!(HttpOrigin::of(&uri), Some(origin("http://api.example.com")));
    }
}
