//! `alur serve --demo`: a tenant `demo` with the example plugins uploaded and the example processes deployed, so
//! that a newcomer can start a CRM or SCM process with curl right after the first start.
//!
//! Idempotent across restarts: the tenant is created once and its API key kept in the data directory
//! (`demo.key`, mode 0600, like `admin.key`; the store only has its hash); a plugin whose bytes are already a
//! version is not uploaded again; a process is deployed again only when its definition or the plugin digests it
//! would pin changed. A process whose plugins are not built is skipped with a warning, not an error: the demo still
//! serves what it can.

use crate::api::AppState;
use crate::api::auth::{hash_key, new_key};
use crate::process::definition::yaml_to_json;
use crate::store::{Tenant, now_millis};
use anyhow::{Context as _, anyhow};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The demo tenant's name.
pub const TENANT: &str = "demo";

/// Where the demo's material is.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The example process definitions (`*.yaml`, with `<name>.input.json` samples).
    pub processes: PathBuf,
    /// The compiled example plugins (`<name>.wasm`), as `plugins/build` writes them.
    pub plugins: PathBuf,
}

/// What the demo loaded.
#[derive(Debug)]
pub struct Demo {
    /// The demo tenant's API key.
    pub api_key: String,
    /// Deployed processes (name, version).
    pub deployed: Vec<(String, u32)>,
    /// Processes left out, with why.
    pub skipped: Vec<(String, String)>,
}

/// Creates (or finds) the demo tenant and loads the examples into it.
pub async fn load(state: &AppState, data: &Path, config: &DemoConfig) -> anyhow::Result<Demo> {
    let (tenant, api_key) = tenant(state, data).await?;
    let mut definitions = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&config.processes)
        .with_context(|| format!("cannot read the example processes in {}", config.processes.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let document = yaml_to_json(&text).map_err(|p| anyhow!("{} is not valid YAML: {p:?}", path.display()))?;
        definitions.push((path, document));
    }

    let mut uploaded: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut deployed = Vec::new();
    let mut skipped = Vec::new();
    for (path, document) in definitions {
        let name = document.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut missing = Vec::new();
        for plugin in plugins_of(&document) {
            if !uploaded.contains_key(&plugin) {
                let outcome = upload(state, &tenant.id, &plugin, &config.plugins).await;
                uploaded.insert(plugin.clone(), outcome.err());
            }
            if let Some(Some(why)) = uploaded.get(&plugin) {
                missing.push(format!("{plugin}: {why}"));
            }
        }
        if !missing.is_empty() {
            let why = missing.join("; ");
            tracing::warn!(process = %name, %why, "demo: process skipped");
            skipped.push((name, why));
            continue;
        }
        placeholder_secrets(state, &tenant.id, &document).await?;
        match deploy_if_changed(state, &tenant.id, &name, document).await {
            Ok(version) => deployed.push((name, version)),
            Err(e) => {
                tracing::warn!(process = %name, file = %path.display(), error = %e, "demo: process not deployed");
                skipped.push((name, e.to_string()));
            }
        }
    }
    Ok(Demo { api_key, deployed, skipped })
}

/// The demo tenant and its key; a tenant whose key file was lost gets a new key.
async fn tenant(state: &AppState, data: &Path) -> anyhow::Result<(Tenant, String)> {
    let key_file = data.join("demo.key");
    let stored = std::fs::read_to_string(&key_file).ok().map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
    let existing = state.tenants.tenant_by_name(TENANT).await?;
    let (tenant, key) = match (existing, stored) {
        (Some(t), Some(key)) if state.tenants.tenant_by_key(&hash_key(&key)).await?.is_some_and(|k| k.id == t.id) => {
            return Ok((t, key));
        }
        (Some(t), _) => {
            let key = new_key().map_err(|e| anyhow!(e.message))?;
            state.tenants.rotate_key(&t.id, &hash_key(&key)).await?;
            (t, key)
        }
        (None, _) => {
            let key = new_key().map_err(|e| anyhow!(e.message))?;
            let t = Tenant { id: uuid::Uuid::now_v7().to_string(), name: TENANT.into(), created_at: now_millis() };
            let t = state.tenants.create_tenant(&t, &hash_key(&key)).await?.context("the demo tenant exists")?;
            (t, key)
        }
    };
    std::fs::write(&key_file, &key).with_context(|| format!("cannot write {}", key_file.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok((tenant, key))
}

async fn upload(state: &AppState, tenant: &str, plugin: &str, dir: &Path) -> Result<(), String> {
    let file = dir.join(format!("{plugin}.wasm"));
    let bytes = std::fs::read(&file).map_err(|_| format!("{} is missing (run plugins/build)", file.display()))?;
    let size = bytes.len();
    let started = std::time::Instant::now();
    let (version, created) = state.executor.put_plugin(tenant, plugin, bytes).await.map_err(|e| e.to_string())?;
    if created {
        tracing::info!(plugin, version = version.version, size, took = ?started.elapsed(), "demo: plugin uploaded");
    }
    Ok(())
}

async fn deploy_if_changed(state: &AppState, tenant: &str, name: &str, document: Value) -> anyhow::Result<u32> {
    if let Some(latest) = state.processes.process_version(tenant, name, None).await? {
        let mut pins = BTreeMap::new();
        for plugin in latest.plugins.keys() {
            if let Some(v) = state.plugins.plugin_versions(tenant, plugin).await?.last() {
                pins.insert(plugin.clone(), v.digest);
            }
        }
        if latest.document == document && latest.plugins == pins {
            return Ok(latest.version);
        }
    }
    Ok(state.executor.deploy(tenant, document).await?.version)
}

/// Sets every secret a demo process names and the tenant lacks to a placeholder, so the process deploys; a step
/// using it reaches the example's placeholder hosts and fails there until a real value is set.
async fn placeholder_secrets(state: &AppState, tenant: &str, document: &Value) -> anyhow::Result<()> {
    let Some(secrets) = &state.secrets else { return Ok(()) };
    let mut names = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(refs)) = map.get("secrets") {
                    out.extend(refs.values().filter_map(Value::as_str).map(str::to_string));
                }
                map.values().for_each(|c| walk(c, out));
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(document, &mut names);
    for name in names {
        if secrets.get(tenant, &name).await?.is_none() {
            secrets.put(tenant, &name, "demo-placeholder-set-a-real-value").await?;
            tracing::warn!(secret = %name, "demo: secret set to a placeholder; PUT /v1/secrets/{name} a real one");
        }
    }
    Ok(())
}

/// The plugin names a definition document uses (any `plugin:` key, at any depth).
fn plugins_of(document: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(p)) = map.get("plugin")
                    && !out.contains(p)
                {
                    out.push(p.clone());
                }
                map.values().for_each(|c| walk(c, out));
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(document, &mut out);
    out
}

/// What `alur serve --demo` prints: the key, what was loaded, and three curl lines that start a process.
pub fn banner(demo: &Demo, base: &str, processes_dir: &Path) -> String {
    let mut out = format!("demo tenant `{TENANT}`, API key: {}\n", demo.api_key);
    let names: Vec<String> = demo.deployed.iter().map(|(n, v)| format!("{n} v{v}")).collect();
    out.push_str(&format!("demo processes: {}\n", names.join(", ")));
    for (name, why) in &demo.skipped {
        out.push_str(&format!("demo process {name} skipped: {why}\n"));
    }
    let process = ["lead-intake", "order-to-cash"]
        .into_iter()
        .find(|p| demo.deployed.iter().any(|(n, _)| n == p))
        .or_else(|| demo.deployed.first().map(|(n, _)| n.as_str()));
    if let Some(process) = process {
        let sample = processes_dir.join(format!("{process}.input.json"));
        out.push_str(&format!(
            "try it:\n  export A={base} KEY={key}\n  jq '{{input: .}}' {sample} | curl -s -X POST \"$A/v1/processes/{process}/instances?wait=5s\" -H \"Authorization: Bearer $KEY\" -H 'content-type: application/json' --data-binary @- | jq\n  curl -s \"$A/v1/instances?process={process}\" -H \"Authorization: Bearer $KEY\" | jq\n  curl -s \"$A/v1/processes\" -H \"Authorization: Bearer $KEY\" | jq -r '.processes[].name'\n",
            key = demo.api_key,
            sample = sample.display(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plugins_are_found_at_any_depth_once() {
        let doc = json!({"steps": [
            {"id": "a", "plugin": "x"},
            {"id": "p", "parallel": {"l": [{"id": "b", "plugin": "y"}], "r": [{"id": "c", "plugin": "x"}]}},
        ]});
        assert_eq!(plugins_of(&doc), ["x", "y"]);
    }
}
