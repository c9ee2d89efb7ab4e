//! `alur instance get|history|list|signal|cancel`: the tenant's process instances.

use super::client::{self, Client, Conn, items, json_arg, seg, table};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

/// Exit code of `process start` for a failed or cancelled instance.
pub const EXIT_FAILED: i32 = 2;
/// Exit code of `process start --wait` when the instance was still running as the wait ran out.
pub const EXIT_STILL_RUNNING: i32 = 3;

/// `alur instance ...` with its connection flags.
#[derive(Debug, Args)]
pub struct InstanceArgs {
    /// Server and output flags.
    #[command(flatten)]
    pub conn: Conn,
    /// The tenant's API key.
    #[arg(long, env = "ALUR_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: InstanceCommand,
}

/// Process instances of the tenant.
#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Show an instance: status, output or error, what it runs or waits for.
    Get {
        /// Instance id.
        id: String,
    },
    /// Show an instance's journal, one event per line.
    History {
        /// Instance id.
        id: String,
    },
    /// List instances, newest first.
    List {
        /// Only this process.
        #[arg(long)]
        process: Option<String>,
        /// Only this status: running, completed, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// At most this many (1-500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after this instance (the `next` a previous page printed).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Deliver a signal to an instance that waits for it.
    Signal {
        /// Instance id.
        id: String,
        /// Signal name, as the definition's `wait: {signal: ...}` names it.
        signal: String,
        /// The payload JSON (the waiting step's output), or @file to read it from a file; default {}.
        #[arg(long)]
        payload: Option<String>,
    },
    /// Cancel a running instance (its compensations run first).
    Cancel {
        /// Instance id.
        id: String,
    },
}

/// Runs an `instance` subcommand; returns the exit code.
pub async fn run(args: InstanceArgs) -> anyhow::Result<i32> {
    let c = Client::new(&args.conn, args.api_key.as_deref(), "--api-key or set ALUR_API_KEY")?;
    match args.command {
        InstanceCommand::Get { id } => {
            let r = c.get(&format!("/v1/instances/{}", seg(&id))).await?;
            if !c.print_raw(&r.body) {
                print_instance(&r.body, true);
            }
        }
        InstanceCommand::History { id } => {
            let r = c.get(&format!("/v1/instances/{}/history", seg(&id))).await?;
            if !c.print_raw(&r.body) {
                let rows: Vec<Vec<String>> = items(&r.body, "events").iter().map(history_row).collect();
                println!("{}", table(&["SEQ", "TIME", "TYPE", "STEP", "ATTEMPT", "DURATION", "FUEL", "DETAIL"], &rows));
            }
        }
        InstanceCommand::List { process, status, limit, cursor } => {
            let mut query = vec![format!("limit={limit}")];
            for (key, value) in [("process", process), ("status", status), ("cursor", cursor)] {
                if let Some(v) = value {
                    query.push(format!("{key}={}", seg(&v)));
                }
            }
            let r = c.get(&format!("/v1/instances?{}", query.join("&"))).await?;
            if !c.print_raw(&r.body) {
                let rows: Vec<Vec<String>> = items(&r.body, "instances")
                    .iter()
                    .map(|i| {
                        vec![
                            client::plain(&i["id"]),
                            format!("{} v{}", client::plain(&i["process"]), client::plain(&i["version"])),
                            client::plain(&i["status"]),
                            client::time(&i["created_at"]),
                            client::ago(&i["updated_at"]),
                        ]
                    })
                    .collect();
                println!("{}", table(&["ID", "PROCESS", "STATUS", "STARTED", "UPDATED"], &rows));
                if let Some(next) = r.body["next_cursor"].as_str() {
                    println!("more: --cursor {next}");
                }
            }
        }
        InstanceCommand::Signal { id, signal, payload } => {
            let payload = match payload {
                Some(p) => json_arg("--payload", &p)?,
                None => json!({}),
            };
            let path = format!("/v1/instances/{}/signals/{}", seg(&id), seg(&signal));
            let r = c.send_json(Method::POST, &path, &payload).await?;
            if !c.print_raw(&r.body) {
                println!("delivered signal {signal} to {id}");
            }
        }
        InstanceCommand::Cancel { id } => {
            let r = c.send_json(Method::POST, &format!("/v1/instances/{}/cancel", seg(&id)), &json!({})).await?;
            if !c.print_raw(&r.body) {
                print_instance(&r.body, true);
            }
        }
    }
    Ok(0)
}

/// The exit code for an instance's status: 0 completed (or running, when nobody waited), 2 failed or
/// cancelled, 3 running after a wait.
pub fn status_exit(instance: &Value, waited: bool) -> i32 {
    match instance["status"].as_str() {
        Some("failed" | "cancelled") => EXIT_FAILED,
        Some("running") if waited => EXIT_STILL_RUNNING,
        _ => 0,
    }
}

/// An instance for people: the id and status line, what it runs or waits for, then its output or error.
pub fn print_instance(i: &Value, detail: bool) {
    let status = client::plain(&i["status"]);
    println!("instance {}", client::plain(&i["id"]));
    println!("process  {} v{}", client::plain(&i["process"]), client::plain(&i["version"]));
    println!("status   {status}");
    if detail {
        println!("started  {}", client::time(&i["created_at"]));
        println!("updated  {}", client::time(&i["updated_at"]));
    }
    if let Some(parent) = i["parent"].as_str() {
        println!("parent   {parent}");
    }
    if let Some(steps) = i["current_steps"].as_array().filter(|s| !s.is_empty()) {
        let names: Vec<String> = steps.iter().map(activity).collect();
        println!("running  {}", names.join(", "));
    }
    if let Some(waits) = i["waiting_for"].as_array().filter(|w| !w.is_empty()) {
        let names: Vec<String> = waits.iter().map(activity).collect();
        println!("waiting  {}", names.join(", "));
    }
    if let Some(error) = i.get("error").filter(|e| !e.is_null()) {
        println!("error    {}", error_line(error));
    }
    if let Some(output) = i.get("output").filter(|o| !o.is_null()) {
        println!("output:");
        println!("{}", serde_json::to_string_pretty(output).unwrap_or_else(|_| output.to_string()));
    }
}

/// A current step or a wait: a bare name, or an object naming one.
fn activity(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let name = ["step", "signal", "id", "name"].iter().find_map(|k| o.get(*k).and_then(Value::as_str));
            match (name, o.get("attempt")) {
                (Some(n), Some(a)) => format!("{n} (attempt {a})"),
                (Some(n), None) => n.to_string(),
                _ => v.to_string(),
            }
        }
        other => other.to_string(),
    }
}

/// `{kind, code, message, step}` as `kind code: message (step s)`.
fn error_line(e: &Value) -> String {
    if !e.is_object() {
        return client::plain(e);
    }
    let mut s =
        format!("{} {}: {}", client::plain(&e["kind"]), client::plain(&e["code"]), client::plain(&e["message"]));
    if let Some(step) = e["step"].as_str() {
        s.push_str(&format!(" (step {step})"));
    }
    s
}

fn history_row(e: &Value) -> Vec<String> {
    let opt = |key: &str| e.get(key).filter(|v| !v.is_null()).map(client::plain).unwrap_or_default();
    let kind = e["type"].as_str().unwrap_or("?");
    let detail = match kind {
        "step-failed" => {
            let mut d = error_line(&e["error"]);
            if let Some(at) = e.get("retry_at").filter(|v| !v.is_null()) {
                d.push_str(&format!("; retry at {}", client::time(at)));
            }
            d
        }
        "failed" => error_line(&e["error"]),
        "signal-received" => format!("signal {} {}", opt("name"), client::compact(&e["payload"])),
        "timer-fired" => format!("timer {}", opt("timer")),
        "child-started" => format!("child {}", opt("child")),
        "child-finished" => match e.get("error").filter(|v| !v.is_null()) {
            Some(err) => format!("child {}: {}", opt("child"), error_line(err)),
            None => format!("child {}", opt("child")),
        },
        "error-routed" => format!("to {}", opt("to")),
        "cancel-requested" => opt("reason"),
        "compensation-started" => format!("undo {}", opt("undo")),
        _ => String::new(),
    };
    vec![
        opt("seq"),
        client::time(&e["at"]),
        kind.to_string(),
        opt("step"),
        opt("attempt"),
        e.get("duration_ms").and_then(Value::as_u64).map(|ms| format!("{ms}ms")).unwrap_or_default(),
        opt("fuel"),
        detail,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_status() {
        assert_eq!(status_exit(&json!({"status": "completed"}), true), 0);
        assert_eq!(status_exit(&json!({"status": "running"}), false), 0);
        assert_eq!(status_exit(&json!({"status": "running"}), true), EXIT_STILL_RUNNING);
        assert_eq!(status_exit(&json!({"status": "failed"}), true), EXIT_FAILED);
        assert_eq!(status_exit(&json!({"status": "cancelled"}), false), EXIT_FAILED);
    }

    #[test]
    fn history_rows_carry_the_step_columns() {
        let row = history_row(&json!({"seq": 3, "at": 0, "type": "step-failed", "step": "score", "attempt": 2,
            "duration_ms": 12, "fuel": 900, "token": 0,
            "error": {"kind": "transient", "code": "busy", "message": "try later"}, "retry_at": null}));
        assert_eq!(
            row,
            vec![
                "3",
                "1970-01-01T00:00:00.000Z",
                "step-failed",
                "score",
                "2",
                "12ms",
                "900",
                "transient busy: try later"
            ]
        );
        let row =
            history_row(&json!({"seq": 4, "at": 0, "type": "signal-received", "name": "go", "payload": {"a": 1}}));
        assert_eq!((row[3].as_str(), row[7].as_str()), ("", r#"signal go {"a":1}"#));
    }
}
