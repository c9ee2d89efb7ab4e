//! The real `alur serve` as a child process on a loopback port, and a small JSON client for it: the harness of
//! every end-to-end test that talks HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The admin key every test server starts with.
pub const ADMIN: &str = "test-admin-key";

/// A running `alur serve`; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts `alur serve` on a free loopback port over the data directory `data`.
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[], &[])
    }

    /// Starts `alur serve` with extra arguments and environment variables.
    pub fn start_with(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut child = Command::new(crate::alur_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(args)
            .env("ALUR_ADMIN_KEY", ADMIN)
            .env("ALUR_LOG", "warn")
            .env("ALUR_COMPILED_CACHE", crate::shared_compiled_cache())
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("alur serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut base = None;
        let mut line = String::new();
        while reader.read_line(&mut line).expect("alur serve's stdout") > 0 {
            if let Some(addr) = line.trim().strip_prefix("alur listening on ") {
                base = Some(addr.to_string());
                break;
            }
            line.clear();
        }
        let base = base.expect("alur serve printed its listening line");
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        Server { child, base }
    }

    /// SIGTERM, then wait: the graceful path.
    pub fn stop(mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON-over-HTTP client of one server.
pub struct Client {
    /// The underlying client, for requests the helpers do not cover.
    pub http: reqwest::Client,
    /// The server's base URL.
    pub base: String,
}

impl Client {
    /// A client of `server`.
    pub fn new(server: &Server) -> Client {
        Client { http: reqwest::Client::new(), base: server.base.clone() }
    }

    /// Sends a request with a bearer key and an optional `(content type, body)`; the response body as JSON
    /// (a non-JSON body becomes a JSON string, an empty one `null`).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(key);
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req.timeout(Duration::from_secs(60)).send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("response body");
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(json!(text)) })
    }

    /// Sends a JSON body.
    pub async fn json(&self, method: &str, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.send(method, path, key, Some(("application/json", body.to_string().into_bytes()))).await
    }

    /// A GET.
    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.send("GET", path, key, None).await
    }

    /// Creates a tenant with the admin key and returns its API key.
    pub async fn tenant(&self, name: &str) -> String {
        let (status, body) = self.json("POST", "/v1/tenants", ADMIN, json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["api_key"].as_str().expect("api_key").to_string()
    }

    /// Uploads a component file as plugin `name`; the response body.
    pub async fn push_plugin(&self, key: &str, name: &str, path: &str) -> Value {
        let (status, body) = self
            .send("PUT", &format!("/v1/plugins/{name}"), key, Some(("application/wasm", crate::component_bytes(path))))
            .await;
        assert!(status == StatusCode::CREATED || status == StatusCode::OK, "{status} {body}");
        body
    }

    /// Uploads a component as plugin `name`, waiting up to `timeout` (a Python or JavaScript component compiles
    /// for tens of seconds at upload), and asserts it is a new version.
    pub async fn upload_new_plugin(&self, key: &str, name: &str, path: &str, timeout: Duration) {
        let resp = self
            .http
            .put(format!("{}/v1/plugins/{name}", self.base))
            .bearer_auth(key)
            .header("content-type", "application/wasm")
            .body(crate::component_bytes(path))
            .timeout(timeout)
            .send()
            .await
            .expect("upload");
        let status = resp.status();
        assert_eq!(status, StatusCode::CREATED, "{}", resp.text().await.unwrap_or_default());
    }

    /// Deploys a YAML definition; the response body.
    pub async fn deploy_yaml(&self, key: &str, name: &str, yaml: &str) -> Value {
        let (status, body) = self
            .send("PUT", &format!("/v1/processes/{name}"), key, Some(("application/yaml", yaml.as_bytes().to_vec())))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

/// Asserts an error response: its status, its `error.code`, and that it has a message.
#[track_caller]
pub fn expect_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(got.1["error"]["message"].is_string(), "{}", got.1);
}
