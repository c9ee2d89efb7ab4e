//! The HTTP client behind `alur tenant|plugin|process|instance`: connection flags, requests, the API's error
//! shape, and how a failure is told to the user (`error: <code>: <message>` on stderr, exit 1).

use anyhow::Context as _;
use clap::Args;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exit code of every failure of a remote command (API error, unreachable server, bad arguments).
pub const EXIT_ERROR: i32 = 1;

/// Where the server is and how to print; global to the remote subcommands.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// Base URL of a running `alur serve`.
    #[arg(long, env = "ALUR_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// Print the server's raw JSON response (for scripts) instead of the readable summary.
    #[arg(long, global = true)]
    pub json: bool,
}

/// An error answered by the API: `{"error": {"code", "message", "details"}}` with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The stable code, such as `not-found`.
    pub code: String,
    /// For people.
    pub message: String,
    /// Validation problems, the quota that was hit...
    pub details: Option<Value>,
    /// The response body as received, for `--json`.
    pub body: Value,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn from_response(status: StatusCode, body: &[u8]) -> ApiError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        if let Some(err) = parsed.as_ref().and_then(|v| v.get("error")).filter(|e| e.get("code").is_some()) {
            return ApiError {
                status,
                code: err["code"].as_str().unwrap_or("unknown").to_string(),
                message: err["message"].as_str().unwrap_or("").to_string(),
                details: err.get("details").cloned(),
                body: parsed.clone().unwrap_or(Value::Null),
            };
        }
        // Not the API's shape: a proxy in the way, or not an Alur server at that URL.
        let text = String::from_utf8_lossy(body);
        let snippet: String = text.trim().chars().take(200).collect();
        ApiError {
            status,
            code: format!("http-{}", status.as_u16()),
            message: if snippet.is_empty() {
                status.canonical_reason().unwrap_or("no body").to_string()
            } else {
                snippet
            },
            details: None,
            body: parsed.unwrap_or(Value::Null),
        }
    }

    /// The lines printed under the `error:` line: one per validation problem (`path: message`), or one per
    /// field of an object of details.
    pub fn detail_lines(&self) -> Vec<String> {
        match &self.details {
            Some(Value::Array(items)) => items
                .iter()
                .map(|p| match (p.get("path").and_then(Value::as_str), p.get("message").and_then(Value::as_str)) {
                    (Some(path), Some(message)) => {
                        format!("{}: {message}", if path.is_empty() { "(document)" } else { path })
                    }
                    _ => compact(p),
                })
                .collect(),
            Some(Value::Object(fields)) => fields.iter().map(|(k, v)| format!("{k}: {}", plain(v))).collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![compact(other)],
        }
    }
}

/// The server could not be reached at all.
#[derive(Debug)]
pub struct Unreachable {
    /// The URL tried.
    pub url: String,
    /// Why, as reqwest tells it (with its causes).
    pub cause: String,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot reach {}: {} (is `alur serve` running there? set --url or ALUR_URL)", self.url, self.cause)
    }
}

impl std::error::Error for Unreachable {}

/// A successful response.
#[derive(Debug)]
pub struct Response {
    /// 200, 201, 202, 204...
    pub status: StatusCode,
    /// The JSON body (`null` when empty).
    pub body: Value,
}

/// A client of one server with one bearer key.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    /// Print raw JSON.
    pub json: bool,
}

impl Client {
    /// A client of `conn.url` that authenticates with `key`; `key_flag` names where the key comes from, for the
    /// message when it is missing.
    pub fn new(conn: &Conn, key: Option<&str>, key_flag: &str) -> anyhow::Result<Client> {
        let key = key.filter(|k| !k.trim().is_empty()).with_context(|| format!("no key: pass {key_flag}"))?;
        let base = conn.url.trim_end_matches('/').to_string();
        reqwest::Url::parse(&base).with_context(|| format!("--url {base:?} is not a URL"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("alur-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Client { http, base, key: key.trim().to_string(), json: conn.json })
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request builder with the bearer key, for bodies the helpers do not cover (the plugin upload stream).
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(&self.key)
    }

    /// Sends `req` and reads the answer: a 2xx as [`Response`], anything else as an [`ApiError`].
    pub async fn execute(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Response> {
        let req = req.build().context("cannot build the request")?;
        let url = req.url().to_string();
        let resp = self.http.execute(req).await.map_err(|e| unreachable(&url, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| unreachable(&url, &e))?;
        if !status.is_success() {
            return Err(ApiError::from_response(status, &bytes).into());
        }
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?
        };
        Ok(Response { status, body })
    }

    /// A GET.
    pub async fn get(&self, path: &str) -> anyhow::Result<Response> {
        self.execute(self.request(Method::GET, path)).await
    }

    /// A request with a JSON body.
    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> anyhow::Result<Response> {
        self.send_bytes(method, path, "application/json", body.to_string().into_bytes(), &HeaderMap::new()).await
    }

    /// A request with a body of the given content type and extra headers.
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        bytes: Vec<u8>,
        headers: &HeaderMap,
    ) -> anyhow::Result<Response> {
        let req = self
            .request(method, path)
            .headers(headers.clone())
            .header(CONTENT_TYPE, HeaderValue::from_str(content_type)?)
            .header(CONTENT_LENGTH, bytes.len())
            .body(bytes);
        self.execute(req).await
    }

    /// A DELETE.
    pub async fn delete(&self, path: &str) -> anyhow::Result<Response> {
        self.execute(self.request(Method::DELETE, path)).await
    }

    /// With `--json`, prints the body and returns true: the caller prints its summary otherwise.
    pub fn print_raw(&self, body: &Value) -> bool {
        if self.json {
            println!("{body}");
        }
        self.json
    }
}

fn unreachable(url: &str, e: &reqwest::Error) -> anyhow::Error {
    // reqwest's own message repeats the URL; its causes say what happened (refused, DNS, TLS...).
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if causes.last() != Some(&text) {
            causes.push(text);
        }
        source = s.source();
    }
    let cause = if causes.is_empty() { e.to_string() } else { causes.join(": ") };
    Unreachable { url: url.to_string(), cause }.into()
}

/// Prints a failed command's error on stderr (and, with `--json`, an API error's body on stdout); the exit code.
pub fn report(err: &anyhow::Error, json: bool) -> i32 {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        if json && !api.body.is_null() {
            println!("{}", api.body);
        }
        eprintln!("error: {api}");
        for line in api.detail_lines() {
            eprintln!("  {line}");
        }
    } else {
        eprintln!("error: {err:#}");
    }
    EXIT_ERROR
}

/// A path segment, percent-encoded (names are restricted by the API, ids are UUIDs, but a typo must not
/// turn into another path).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `--input`/`--payload`: inline JSON, or `@file` to read it from a file.
pub fn json_arg(flag: &str, arg: &str) -> anyhow::Result<Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("{flag}: cannot read {path}"))?,
        None => arg.to_string(),
    };
    serde_json::from_str(&text).with_context(|| format!("{flag} is not valid JSON"))
}

/// The array under `key` of a list response (`{"plugins": [...]}`).
pub fn items<'a>(body: &'a Value, key: &str) -> &'a [Value] {
    body.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// A JSON value on one line.
pub fn compact(v: &Value) -> String {
    v.to_string()
}

/// A scalar without quotes; anything else as compact JSON.
pub fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Milliseconds since the epoch as `2025-01-31T12:00:00.123Z`.
pub fn time(v: &Value) -> String {
    match v.as_i64().and_then(|ms| u64::try_from(ms).ok()) {
        Some(ms) => humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string(),
        None => "-".into(),
    }
}

/// How long ago a millisecond timestamp was, roughly: `12s ago`, `3h ago`.
pub fn ago(v: &Value) -> String {
    let Some(ms) = v.as_i64() else { return "-".into() };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let secs = (now - ms).max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

/// Bytes as `1.2 MiB (1234567 bytes)`.
pub fn size(v: &Value) -> String {
    match v.as_u64() {
        Some(n) => format!("{} ({n} bytes)", bytesize::ByteSize::b(n).display().iec()),
        None => "-".into(),
    }
}

/// Left-aligned columns with two spaces between them, the header first.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            s.push_str(cell);
            if i < last {
                s.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_errors_parse_with_their_problems() {
        let body = json!({"error": {"code": "invalid-definition", "message": "the definition has 2 problem(s)",
            "details": [{"path": "/steps/0/plugin", "message": "unknown plugin"}, {"path": "", "message": "no steps"}]}});
        let e = ApiError::from_response(StatusCode::UNPROCESSABLE_ENTITY, body.to_string().as_bytes());
        assert_eq!(e.to_string(), "invalid-definition: the definition has 2 problem(s)");
        assert_eq!(e.detail_lines(), vec!["/steps/0/plugin: unknown plugin", "(document): no steps"]);

        let quota = json!({"error": {"code": "quota-exceeded", "message": "m", "details": {"quota": "max_plugins", "limit": 2}}});
        let e = ApiError::from_response(StatusCode::FORBIDDEN, quota.to_string().as_bytes());
        assert_eq!(e.detail_lines(), vec!["limit: 2", "quota: max_plugins"]);
    }

    #[test]
    fn a_body_that_is_not_the_api_shape_keeps_the_status() {
        let e = ApiError::from_response(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(e.code, "http-502");
        assert_eq!(e.message, "<html>bad gateway</html>");
        let e = ApiError::from_response(StatusCode::NOT_FOUND, b"");
        assert_eq!(e.to_string(), "http-404: Not Found");
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(seg("crm-lead_score.v2"), "crm-lead_score.v2");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn tables_align_and_trim() {
        let t = table(&["ID", "NAME"], &[vec!["1".into(), "acme".into()], vec!["200".into(), "x".into()]]);
        assert_eq!(t, "ID   NAME\n1    acme\n200  x");
    }

    #[test]
    fn json_args_read_inline_or_from_a_file() {
        assert_eq!(json_arg("--input", r#"{"a":1}"#).unwrap(), json!({"a": 1}));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.json");
        std::fs::write(&file, "[1, 2]").unwrap();
        assert_eq!(json_arg("--input", &format!("@{}", file.display())).unwrap(), json!([1, 2]));
        assert!(json_arg("--input", "{oops").is_err());
        assert!(json_arg("--input", "@/no/such/file").is_err());
    }

    #[test]
    fn times_format_as_rfc3339() {
        assert_eq!(time(&json!(1_700_000_000_123_i64)), "2023-11-14T22:13:20.123Z");
        assert_eq!(time(&Value::Null), "-");
    }
}
