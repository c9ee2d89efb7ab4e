//! `alur tenant create|list|rotate-key|quota`: tenant administration with the admin key.

use super::client::{self, Client, Conn, items, seg, table};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

/// `alur tenant ...` with its connection flags.
#[derive(Debug, Args)]
pub struct TenantArgs {
    /// Server and output flags.
    #[command(flatten)]
    pub conn: Conn,
    /// The admin key (the one `alur serve` was started with).
    #[arg(long, env = "ALUR_ADMIN_KEY", global = true, hide_env_values = true)]
    pub admin_key: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: TenantCommand,
}

/// Tenant administration (admin key).
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints its id and its API key (shown only this once).
    Create {
        /// 1-64 of a-z, 0-9 and '-'.
        name: String,
    },
    /// List tenants.
    List,
    /// Replace a tenant's API key; the old key stops working at once.
    RotateKey {
        /// Tenant id.
        id: String,
    },
    /// Show a tenant's effective quota, or change it with --set / --unset.
    Quota {
        /// Tenant id.
        id: String,
        /// Override a field, such as max_plugins=50, max_plugin_bytes=32MiB or max_step_timeout_ms=30s
        /// (repeatable; other overrides are kept).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Drop a field's override, back to the default (repeatable).
        #[arg(long = "unset", value_name = "FIELD")]
        unset: Vec<String>,
    },
}

/// Runs a `tenant` subcommand; returns the exit code.
pub async fn run(args: TenantArgs) -> anyhow::Result<i32> {
    let c = Client::new(&args.conn, args.admin_key.as_deref(), "--admin-key or set ALUR_ADMIN_KEY")?;
    match args.command {
        TenantCommand::Create { name } => {
            let r = c.send_json(Method::POST, "/v1/tenants", &json!({ "name": name })).await?;
            if !c.print_raw(&r.body) {
                let b = &r.body;
                println!("created tenant {}", client::plain(&b["name"]));
                println!("id:      {}", client::plain(&b["id"]));
                println!("api key: {}", client::plain(&b["api_key"]));
                println!(
                    "(the key is shown only now; for the commands: export ALUR_API_KEY={})",
                    client::plain(&b["api_key"])
                );
            }
        }
        TenantCommand::List => {
            let r = c.get("/v1/tenants").await?;
            if !c.print_raw(&r.body) {
                let rows: Vec<Vec<String>> = items(&r.body, "tenants")
                    .iter()
                    .map(|t| vec![client::plain(&t["id"]), client::plain(&t["name"]), client::time(&t["created_at"])])
                    .collect();
                println!("{}", table(&["ID", "NAME", "CREATED"], &rows));
            }
        }
        TenantCommand::RotateKey { id } => {
            let r = c.send_json(Method::POST, &format!("/v1/tenants/{}/keys", seg(&id)), &json!({})).await?;
            if !c.print_raw(&r.body) {
                println!("new api key for {}: {}", client::plain(&r.body["id"]), client::plain(&r.body["api_key"]));
                println!("(the old key no longer works)");
            }
        }
        TenantCommand::Quota { id, set, unset } => {
            let path = format!("/v1/tenants/{}/quota", seg(&id));
            let mut r = c.get(&path).await?;
            if !set.is_empty() || !unset.is_empty() {
                // The API replaces the whole set of overrides; merging here keeps the ones not named.
                let mut overrides = match r.body.get("overrides") {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                for field in &unset {
                    overrides.remove(field);
                }
                for entry in &set {
                    let (field, value) = parse_set(entry)?;
                    overrides.insert(field, value);
                }
                r = c.send_json(Method::PUT, &path, &Value::Object(overrides)).await?;
            }
            if !c.print_raw(&r.body) {
                print_quota(&r.body);
            }
        }
    }
    Ok(0)
}

fn print_quota(body: &Value) {
    let overrides = body.get("overrides").and_then(Value::as_object);
    let mut rows = Vec::new();
    if let Some(quota) = body.get("quota").and_then(Value::as_object) {
        for (field, value) in quota {
            let shown = if field.ends_with("_bytes") { client::size(value) } else { client::plain(value) };
            let set = if overrides.is_some_and(|o| o.contains_key(field)) { "override" } else { "default" };
            rows.push(vec![field.clone(), shown, set.to_string()]);
        }
    }
    println!("{}", table(&["FIELD", "VALUE", "SOURCE"], &rows));
}

/// `field=value`: a number; for `*_bytes` also a size such as 64MiB, for `*_ms` also a duration such as 30s.
/// Anything else is sent as it is, for the server to name what is wrong with it.
fn parse_set(entry: &str) -> anyhow::Result<(String, Value)> {
    let (field, raw) = entry
        .split_once('=')
        .filter(|(f, _)| !f.trim().is_empty())
        .with_context(|| format!("--set takes field=value, got {entry:?}"))?;
    let (field, raw) = (field.trim().to_string(), raw.trim());
    if let Ok(n) = raw.parse::<u64>() {
        return Ok((field, json!(n)));
    }
    if field.ends_with("_bytes")
        && let Ok(size) = raw.parse::<bytesize::ByteSize>()
    {
        return Ok((field, json!(size.as_u64())));
    }
    if field.ends_with("_ms")
        && let Ok(d) = humantime::parse_duration(raw)
    {
        return Ok((field, json!(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))));
    }
    Ok((field, serde_json::from_str(raw).unwrap_or_else(|_| json!(raw))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_values_take_numbers_sizes_and_durations() {
        assert_eq!(parse_set("max_plugins=50").unwrap(), ("max_plugins".into(), json!(50)));
        assert_eq!(parse_set("max_plugin_bytes=32MiB").unwrap(), ("max_plugin_bytes".into(), json!(32 << 20)));
        assert_eq!(parse_set("max_step_timeout_ms=1m").unwrap(), ("max_step_timeout_ms".into(), json!(60_000)));
        // Left for the server to reject with its own message.
        assert_eq!(parse_set("max_plugins=lots").unwrap(), ("max_plugins".into(), json!("lots")));
        assert!(parse_set("max_plugins").is_err());
        assert!(parse_set("=5").is_err());
    }
}
