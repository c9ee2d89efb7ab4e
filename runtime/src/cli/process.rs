//! `alur process deploy|list|get|start`: process definitions of the tenant, and starting instances of them.

use super::client::{self, Client, Conn, items, json_arg, seg, table};
use super::instance::{print_instance, status_exit};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest wait one request may ask the server for; longer `--wait`s poll after it.
const SERVER_MAX_WAIT: Duration = Duration::from_secs(60);

/// `alur process ...` with its connection flags.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// Server and output flags.
    #[command(flatten)]
    pub conn: Conn,
    /// The tenant's API key.
    #[arg(long, env = "ALUR_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: ProcessCommand,
}

/// Process definitions of the tenant.
#[derive(Debug, Subcommand)]
pub enum ProcessCommand {
    /// Deploy a definition (.yaml, .yml or .json) as the next version of the process its `name` names.
    Deploy {
        /// The definition file.
        file: PathBuf,
    },
    /// List the tenant's processes with their latest versions.
    List,
    /// Show a process: its versions, pinned plugins and definition.
    Get {
        /// Process name.
        name: String,
        /// A version (default: the latest).
        #[arg(long)]
        version: Option<u32>,
    },
    /// Start an instance; with --wait, print its output or error when it ends.
    #[command(after_help = "Exit codes: 0 started (with --wait: completed); 2 failed or cancelled; 3 still running \
                            when the wait ran out; 1 the request failed.")]
    Start(StartArgs),
}

/// `alur process start` options.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Process name.
    pub name: String,
    /// The input JSON, or @file to read it from a file.
    #[arg(long)]
    pub input: Option<String>,
    /// Wait up to this long for the instance to finish (such as 10s or 2m), then print its output or error.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub wait: Option<Duration>,
    /// A version (default: the latest).
    #[arg(long)]
    pub version: Option<u32>,
    /// Starting again with the same key returns the first instance instead of starting another.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// Runs a `process` subcommand; returns the exit code.
pub async fn run(args: ProcessArgs) -> anyhow::Result<i32> {
    let c = Client::new(&args.conn, args.api_key.as_deref(), "--api-key or set ALUR_API_KEY")?;
    match args.command {
        ProcessCommand::Deploy { file } => deploy(&c, &file).await,
        ProcessCommand::List => {
            let r = c.get("/v1/processes").await?;
            if !c.print_raw(&r.body) {
                let rows: Vec<Vec<String>> = items(&r.body, "processes")
                    .iter()
                    .map(|p| {
                        vec![
                            client::plain(&p["name"]),
                            client::plain(&p["latest_version"]),
                            client::time(&p["created_at"]),
                        ]
                    })
                    .collect();
                println!("{}", table(&["NAME", "LATEST", "DEPLOYED"], &rows));
            }
            Ok(0)
        }
        ProcessCommand::Get { name, version } => {
            let (versions, one) = match version {
                None => {
                    let r = c.get(&format!("/v1/processes/{}", seg(&name))).await?;
                    if c.print_raw(&r.body) {
                        return Ok(0);
                    }
                    (r.body["versions"].clone(), r.body["latest"].clone())
                }
                Some(v) => {
                    let r = c.get(&format!("/v1/processes/{}/versions/{v}", seg(&name))).await?;
                    if c.print_raw(&r.body) {
                        return Ok(0);
                    }
                    (Value::Null, r.body)
                }
            };
            print_process(&versions, &one);
            Ok(0)
        }
        ProcessCommand::Start(start_args) => start(&c, start_args).await,
    }
}

/// The definition's name (the URL needs it) and its content type, from the file's extension.
fn read_definition(file: &Path) -> anyhow::Result<(String, &'static str, Vec<u8>)> {
    let ext = file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let content_type = match ext.as_deref() {
        Some("yaml" | "yml") => "application/yaml",
        Some("json") => "application/json",
        _ => anyhow::bail!("{}: a definition is a .yaml, .yml or .json file", file.display()),
    };
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8 text", file.display()))?;
    let doc: Value = if content_type == "application/json" {
        serde_json::from_str(text).with_context(|| format!("{} is not valid JSON", file.display()))?
    } else {
        serde_yaml::from_str(text).with_context(|| format!("{} is not valid YAML", file.display()))?
    };
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .with_context(|| format!("{} has no `name`: the process is deployed under it", file.display()))?;
    Ok((name.to_string(), content_type, bytes))
}

async fn deploy(c: &Client, file: &Path) -> anyhow::Result<i32> {
    let (name, content_type, bytes) = read_definition(file)?;
    let r = c
        .send_bytes(Method::PUT, &format!("/v1/processes/{}", seg(&name)), content_type, bytes, &HeaderMap::new())
        .await?;
    if !c.print_raw(&r.body) {
        println!("deployed {} version {}", client::plain(&r.body["name"]), client::plain(&r.body["version"]));
    }
    Ok(0)
}

fn print_process(versions: &Value, v: &Value) {
    println!(
        "process {} version {} (deployed {})",
        client::plain(&v["name"]),
        client::plain(&v["version"]),
        client::time(&v["created_at"])
    );
    if let Some(all) = versions.as_array() {
        let list: Vec<String> = all.iter().map(client::plain).collect();
        println!("versions: {}", list.join(", "));
    }
    if let Some(plugins) = v["plugins"].as_object().filter(|p| !p.is_empty()) {
        let rows: Vec<Vec<String>> =
            plugins.iter().map(|(name, digest)| vec![name.clone(), client::plain(digest)]).collect();
        println!("{}", table(&["PLUGIN", "PINNED DIGEST"], &rows));
    }
    println!("definition:");
    let yaml = serde_yaml::to_string(&v["document"]).unwrap_or_else(|_| v["document"].to_string());
    for line in yaml.lines() {
        println!("  {line}");
    }
}

async fn start(c: &Client, args: StartArgs) -> anyhow::Result<i32> {
    let input = args.input.as_deref().map(|i| json_arg("--input", i)).transpose()?;
    // No --input sends no `input`, as the API defaults it (null).
    let body = match input {
        Some(input) => json!({ "input": input }),
        None => json!({}),
    };
    let mut query = Vec::new();
    if let Some(v) = args.version {
        query.push(format!("version={v}"));
    }
    let deadline = args.wait.map(|w| Instant::now() + w);
    if let Some(wait) = args.wait {
        query.push(format!("wait={}ms", wait.min(SERVER_MAX_WAIT).as_millis()));
    }
    let path = format!(
        "/v1/processes/{}/instances{}{}",
        seg(&args.name),
        if query.is_empty() { "" } else { "?" },
        query.join("&")
    );
    let mut headers = HeaderMap::new();
    if let Some(key) = &args.idempotency_key {
        headers
            .insert("idempotency-key", HeaderValue::from_str(key).context("--idempotency-key must be visible ASCII")?);
    }
    let r = c.send_bytes(Method::POST, &path, "application/json", body.to_string().into_bytes(), &headers).await?;
    let mut instance = r.body;
    if let Some(deadline) = deadline {
        instance = poll_until(c, instance, deadline).await?;
    }
    if !c.print_raw(&instance) {
        let reused = r.status == reqwest::StatusCode::OK && args.wait.is_none();
        if reused {
            println!("(an instance with this idempotency key exists: not started again)");
        }
        print_instance(&instance, args.wait.is_some());
    }
    Ok(status_exit(&instance, args.wait.is_some()))
}

/// Polls a still-running instance until it finishes or `deadline` passes (the server waits at most a minute).
async fn poll_until(c: &Client, mut instance: Value, deadline: Instant) -> anyhow::Result<Value> {
    let id = instance["id"].as_str().context("the server answered without an instance id")?.to_string();
    while instance["status"] == "running" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250).min(deadline.saturating_duration_since(Instant::now()))).await;
        instance = c.get(&format!("/v1/instances/{}", seg(&id))).await?.body;
    }
    Ok(instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_and_content_type_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("p.yml");
        std::fs::write(&yaml, "name: order-flow\nsteps: []\n").unwrap();
        let (name, ct, bytes) = read_definition(&yaml).unwrap();
        assert_eq!((name.as_str(), ct), ("order-flow", "application/yaml"));
        assert_eq!(bytes, b"name: order-flow\nsteps: []\n");

        let json = dir.path().join("p.JSON");
        std::fs::write(&json, r#"{"name": "x", "steps": []}"#).unwrap();
        assert_eq!(read_definition(&json).unwrap().1, "application/json");

        let nameless = dir.path().join("n.yaml");
        std::fs::write(&nameless, "steps: []\n").unwrap();
        assert!(read_definition(&nameless).unwrap_err().to_string().contains("has no `name`"));
        let txt = dir.path().join("p.txt");
        std::fs::write(&txt, "name: x").unwrap();
        assert!(read_definition(&txt).is_err());
    }
}
