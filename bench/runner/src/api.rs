//! The calls the runner makes to set `alur serve` up (tenants, quotas, plugins, processes) and to time single
//! requests; the load itself comes from the load generator process.

use anyhow::{Context, Result, bail};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::time::Duration;

/// The admin key every benchmark server starts with.
pub const ADMIN: &str = "bench-admin-key";

/// A blocking client of one `alur serve`.
#[derive(Clone)]
pub struct Api {
    http: Client,
    pub base: String,
}

/// A tenant the runner created.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub key: String,
}

impl Api {
    pub fn new(base: &str) -> Result<Api> {
        let http = Client::builder().timeout(Duration::from_secs(120)).tcp_nodelay(true).build()?;
        Ok(Api { http, base: base.to_string() })
    }

    fn send(&self, method: &str, path: &str, key: &str, body: Option<(&str, Vec<u8>)>) -> Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(key);
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req.send().with_context(|| path.to_string())?;
        let status = resp.status().as_u16();
        let text = resp.text()?;
        Ok((status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(json!(text)) }))
    }

    fn expect(&self, what: &str, ok: &[u16], (status, body): (u16, Value)) -> Result<Value> {
        if !ok.contains(&status) {
            bail!("{what}: HTTP {status}: {body}");
        }
        Ok(body)
    }

    /// Creates a tenant and lifts its quota out of the benchmark's way: the load generator runs up to 256
    /// instances at once (a quota refusal would measure the quota, not the runtime), and a spinning neighbour
    /// gets enough fuel that its timeout, not its fuel, stops it.
    pub fn tenant(&self, name: &str) -> Result<Tenant> {
        let body = json!({ "name": name }).to_string().into_bytes();
        let created = self.expect(
            "create tenant",
            &[201],
            self.send("POST", "/v1/tenants", ADMIN, Some(("application/json", body)))?,
        )?;
        let tenant = Tenant {
            id: created["id"].as_str().context("tenant id")?.to_string(),
            key: created["api_key"].as_str().context("api key")?.to_string(),
        };
        let quota =
            json!({ "max_open_instances": 1_000_000, "max_step_fuel": 10_000_000_000_000u64 }).to_string().into_bytes();
        let path = format!("/v1/tenants/{}/quota", tenant.id);
        self.expect("set quota", &[200], self.send("PUT", &path, ADMIN, Some(("application/json", quota)))?)?;
        Ok(tenant)
    }

    pub fn plugin(&self, t: &Tenant, name: &str, wasm: &[u8]) -> Result<Value> {
        let path = format!("/v1/plugins/{name}");
        self.expect(
            "upload plugin",
            &[200, 201],
            self.send("PUT", &path, &t.key, Some(("application/wasm", wasm.to_vec())))?,
        )
    }

    pub fn process(&self, t: &Tenant, name: &str, yaml: &str) -> Result<Value> {
        let path = format!("/v1/processes/{name}");
        let body = Some(("application/yaml", yaml.as_bytes().to_vec()));
        self.expect("deploy process", &[200, 201], self.send("PUT", &path, &t.key, body)?)
    }

    /// Starts an instance and waits for it; fails unless it completed.
    pub fn run(&self, t: &Tenant, process: &str, input: &Value) -> Result<Value> {
        let path = format!("/v1/processes/{process}/instances?wait=60s");
        let body = json!({ "input": input }).to_string().into_bytes();
        let out =
            self.expect("run instance", &[200], self.send("POST", &path, &t.key, Some(("application/json", body)))?)?;
        if out["status"] != "completed" {
            bail!("instance of {process} did not complete: {out}");
        }
        Ok(out)
    }

    /// A GET that must answer 200.
    pub fn get(&self, t: &Tenant, path: &str) -> Result<Value> {
        self.expect(path, &[200], self.send("GET", path, &t.key, None)?)
    }

    /// An instance's journal.
    pub fn history(&self, t: &Tenant, id: &str) -> Result<Value> {
        self.expect("history", &[200], self.send("GET", &format!("/v1/instances/{id}/history"), &t.key, None)?)
    }
}
