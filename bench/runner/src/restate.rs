//! The peer: a single-node Restate server on loopback (npm `@restatedev/restate-server@1.7.12`, Restate's default
//! durability, ports moved off the defaults by `bench/restate/restate.toml`) and the Node service of
//! `bench/restate/service.mjs`, registered through the admin API.

use crate::sys::{Proc, command_line};
use anyhow::{Context, Result, bail};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const INGRESS: &str = "http://127.0.0.1:28080";
const ADMIN: &str = "http://127.0.0.1:29070";
const SERVICE_PORT: u16 = 29080;

pub struct Restate {
    pub server: Proc,
    pub service: Proc,
}

impl Restate {
    pub fn pids(&self) -> Vec<u32> {
        vec![self.server.pid(), self.service.pid()]
    }
}

/// The restate-server binary that npm installed for this platform.
pub fn server_bin(root: &Path) -> PathBuf {
    root.join("bench/restate/node_modules/@restatedev/restate-server-linux-x64/bin/restate-server")
}

/// Versions and the durability settings in force (from `--dump-config`), for the report.
pub fn describe(root: &Path) -> Value {
    let bin = server_bin(root);
    let config = root.join("bench/restate/restate.toml");
    let dump = Command::new(&bin)
        .arg("-c")
        .arg(&config)
        .arg("--dump-config")
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    // The settings that decide what is on disk when Restate answers.
    let keys = ["default-provider", "default-replication", "rocksdb-disable-wal", "rocksdb-disable-wal-fsync"];
    let mut section = String::new();
    let mut durability = Vec::new();
    for line in dump.lines() {
        if line.starts_with('[') {
            section = line.to_string();
        } else if keys.iter().any(|k| line.starts_with(&format!("{k} "))) {
            durability.push(format!("{section} {line}").trim().to_string());
        }
    }
    json!({
        "server": command_line(bin.to_str().unwrap_or("restate-server"), &["--version"]),
        "sdk": "@restatedev/restate-sdk 1.17.2",
        "node": command_line("node", &["--version"]),
        "durability_settings": durability,
    })
}

/// Starts the server over a fresh `data` dir and the service, registers the service and waits until one
/// workflow completes through the ingress.
pub fn start(root: &Path, data: &Path) -> Result<Restate> {
    let bin = server_bin(root);
    if !bin.exists() {
        bail!("{} is missing: run `npm ci` in bench/restate", bin.display());
    }
    let log = std::fs::File::create(data.with_extension("log"))?;
    let server = crate::sys::measured(&bin)
        .arg("-c")
        .arg(root.join("bench/restate/restate.toml"))
        .arg("--base-dir")
        .arg(data)
        .arg("--no-logo")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting restate-server")?;
    let mut server = Proc { child: server, name: "restate-server".into() };
    let service_log = std::fs::File::create(data.with_extension("service.log"))?;
    let service = crate::sys::measured("node")
        .args(["--import", "./polyfill.mjs", "service.mjs", &SERVICE_PORT.to_string()])
        .current_dir(root.join("bench/restate"))
        .stdout(service_log.try_clone()?)
        .stderr(service_log)
        .spawn()
        .context("starting the Restate service under node")?;
    let mut service = Proc { child: service, name: "restate service (node)".into() };

    let http = Client::builder().timeout(Duration::from_secs(30)).build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        server.check_alive()?;
        service.check_alive()?;
        let admin_up = http.get(format!("{ADMIN}/health")).send().is_ok_and(|r| r.status().is_success());
        if admin_up {
            let registered = http
                .post(format!("{ADMIN}/deployments"))
                .header("content-type", "application/json")
                .body(json!({ "uri": format!("http://127.0.0.1:{SERVICE_PORT}"), "force": true }).to_string())
                .send();
            if registered.is_ok_and(|r| r.status().is_success()) {
                break;
            }
        }
        if Instant::now() > deadline {
            bail!("Restate did not come up and register the service within 60 s (see {})", data.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The deployment is registered; the ingress learns of it asynchronously.
    loop {
        let resp = http
            .post(format!("{INGRESS}/LeadIntake/run"))
            .header("content-type", "application/json")
            .body(crate::lead_input().to_string())
            .send();
        if let Ok(r) = resp
            && r.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("Restate's ingress never completed a workflow within 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(Restate { server, service })
}
