//! `alur plugin push|list|get|delete` against the server, and `alur plugin new` (see [`super::scaffold`]).

use super::client::{self, Client, Conn, items, seg, table};
use super::scaffold::{self, NewArgs};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};

/// `alur plugin ...` with its connection flags.
#[derive(Debug, Args)]
pub struct PluginArgs {
    /// Server and output flags.
    #[command(flatten)]
    pub conn: Conn,
    /// The tenant's API key.
    #[arg(long, env = "ALUR_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// Step plugins of the tenant, and new plugin projects.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Upload a component as the next version of a plugin (the same bytes again return the existing version).
    Push {
        /// Plugin name, as process definitions name it.
        name: String,
        /// The component (.wasm).
        file: PathBuf,
    },
    /// List the tenant's plugins with their latest versions.
    List,
    /// Show a plugin's versions.
    Get {
        /// Plugin name.
        name: String,
    },
    /// Delete a plugin and all its versions (refused while a deployed process uses it).
    Delete {
        /// Plugin name.
        name: String,
    },
    /// Create a new plugin project from a template: ./<name>/ with the SDK, the WIT world, a step and its tests.
    New(NewArgs),
}

/// Runs a `plugin` subcommand; returns the exit code.
pub async fn run(args: PluginArgs) -> anyhow::Result<i32> {
    if let PluginCommand::New(new) = args.command {
        return scaffold::run(new);
    }
    let c = Client::new(&args.conn, args.api_key.as_deref(), "--api-key or set ALUR_API_KEY")?;
    match args.command {
        PluginCommand::New(_) => unreachable!("handled above"),
        PluginCommand::Push { name, file } => push(&c, &name, &file).await?,
        PluginCommand::List => {
            let r = c.get("/v1/plugins").await?;
            if !c.print_raw(&r.body) {
                let rows: Vec<Vec<String>> = items(&r.body, "plugins")
                    .iter()
                    .map(|p| {
                        vec![
                            client::plain(&p["name"]),
                            client::plain(&p["version"]),
                            short_size(&p["size"]),
                            short_digest(&p["digest"]),
                            client::time(&p["created_at"]),
                        ]
                    })
                    .collect();
                println!("{}", table(&["NAME", "LATEST", "SIZE", "DIGEST", "UPLOADED"], &rows));
            }
        }
        PluginCommand::Get { name } => {
            let r = c.get(&format!("/v1/plugins/{}", seg(&name))).await?;
            if !c.print_raw(&r.body) {
                println!("plugin {}", client::plain(&r.body["name"]));
                let rows: Vec<Vec<String>> = items(&r.body, "versions")
                    .iter()
                    .map(|v| {
                        vec![
                            client::plain(&v["version"]),
                            short_size(&v["size"]),
                            client::plain(&v["digest"]),
                            client::time(&v["created_at"]),
                        ]
                    })
                    .collect();
                println!("{}", table(&["VERSION", "SIZE", "DIGEST", "UPLOADED"], &rows));
            }
        }
        PluginCommand::Delete { name } => {
            c.delete(&format!("/v1/plugins/{}", seg(&name))).await?;
            // 204 has no body; scripts get a line to parse all the same.
            if !c.print_raw(&serde_json::json!({ "name": name, "deleted": true })) {
                println!("deleted plugin {name} and all its versions");
            }
        }
    }
    Ok(0)
}

async fn push(c: &Client, name: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let f = tokio::fs::File::open(file).await.with_context(|| format!("cannot open {}", file.display()))?;
    let len = f.metadata().await.with_context(|| format!("cannot read {}", file.display()))?.len();
    // A bar on a terminal only: piped into a log or read by a script, redraws are noise.
    let bar = if c.json || !std::io::stderr().is_terminal() { ProgressBar::hidden() } else { ProgressBar::new(len) };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("uploading {name}"));
    let reader = Counting { inner: f, bar: bar.clone(), total: len, sent: 0 };
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(reader, 64 * 1024));
    let req = c
        .request(Method::PUT, &format!("/v1/plugins/{}", seg(name)))
        .header(CONTENT_TYPE, "application/wasm")
        .header(CONTENT_LENGTH, len)
        .body(body);
    let result = c.execute(req).await;
    bar.finish_and_clear();
    let r = result?;
    if !c.print_raw(&r.body) {
        let b = &r.body;
        let what = if r.status == StatusCode::CREATED {
            "new version"
        } else {
            "unchanged: these bytes are already this version"
        };
        println!("{} version {} ({what})", client::plain(&b["name"]), client::plain(&b["version"]));
        println!("digest: {}", client::plain(&b["digest"]));
        println!("size:   {}", client::size(&b["size"]));
    }
    Ok(())
}

/// Counts the bytes read from the file as the body streams out; once all are read the upload is done and the
/// server compiles the component (~20 s for a Python one), so the bar turns into a spinner.
struct Counting<R> {
    inner: R,
    bar: ProgressBar,
    total: u64,
    sent: u64,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let n = (buf.filled().len() - before) as u64;
            let was_done = self.sent >= self.total;
            self.sent += n;
            self.bar.set_position(self.sent.min(self.total));
            if !was_done && self.sent >= self.total {
                self.bar
                    .set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("a valid template"));
                self.bar.set_message("compiling…");
                self.bar.enable_steady_tick(Duration::from_millis(100));
            }
        }
        poll
    }
}

fn short_digest(v: &serde_json::Value) -> String {
    let d = client::plain(v);
    // sha256: and 12 hex digits identify a version among a tenant's; `plugin get` shows the whole digest.
    d.chars().take("sha256:".len() + 12).collect()
}

fn short_size(v: &serde_json::Value) -> String {
    v.as_u64().map(|n| bytesize::ByteSize::b(n).display().iec().to_string()).unwrap_or_else(|| "-".into())
}
