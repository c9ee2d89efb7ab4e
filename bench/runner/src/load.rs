//! The load generator: `bench-runner load ...`, always run as a process of its own so that its CPU is not the
//! server's. It sends a fixed number of identical requests from `concurrency` keep-alive connections, each
//! connection sending its next request when the previous answer arrived (a closed loop), and stops by itself.
//! It prints one JSON object: counts, elapsed time, throughput and latency percentiles of the successful
//! requests. One thread: the load generator should take at most one of the two cores, for both systems alike.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What to send and how often.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub concurrency: usize,
    pub requests: usize,
    /// The status a successful answer has.
    pub expect_status: u16,
    /// Text a successful answer's body contains (e.g. `"status":"completed"`), if any.
    pub expect_body: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl LoadSpec {
    /// Parses `--url U --header 'k: v' --body B --concurrency C --requests N --expect-status S
    /// --expect-body T --timeout-ms M`.
    pub fn from_args(args: &[String]) -> Result<LoadSpec> {
        let mut spec = LoadSpec {
            url: String::new(),
            headers: Vec::new(),
            body: String::new(),
            concurrency: 1,
            requests: 100,
            expect_status: 200,
            expect_body: None,
            timeout: Duration::from_secs(60),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--url" => spec.url = value.clone(),
                "--header" => {
                    let (k, v) = value.split_once(':').context("a header is `name: value`")?;
                    spec.headers.push((k.trim().to_string(), v.trim().to_string()));
                }
                "--body" => spec.body = value.clone(),
                "--concurrency" => spec.concurrency = value.parse()?,
                "--requests" => spec.requests = value.parse()?,
                "--expect-status" => spec.expect_status = value.parse()?,
                "--expect-body" => spec.expect_body = Some(value.clone()),
                "--timeout-ms" => spec.timeout = Duration::from_millis(value.parse()?),
                other => bail!("unknown load flag {other}"),
            }
        }
        if spec.url.is_empty() || spec.concurrency == 0 {
            bail!("load needs --url and a concurrency of at least 1");
        }
        Ok(spec)
    }

    /// The arguments that [`LoadSpec::from_args`] parses back.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "load".to_string(),
            "--url".into(),
            self.url.clone(),
            "--body".into(),
            self.body.clone(),
            "--concurrency".into(),
            self.concurrency.to_string(),
            "--requests".into(),
            self.requests.to_string(),
            "--expect-status".into(),
            self.expect_status.to_string(),
            "--timeout-ms".into(),
            self.timeout.as_millis().to_string(),
        ];
        for (k, v) in &self.headers {
            args.extend(["--header".to_string(), format!("{k}: {v}")]);
        }
        if let Some(b) = &self.expect_body {
            args.extend(["--expect-body".to_string(), b.clone()]);
        }
        args
    }
}

/// The value at quantile `q` of sorted `v`.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Runs the load and returns its report.
pub async fn run(spec: LoadSpec) -> Result<Value> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(spec.concurrency)
        .timeout(spec.timeout)
        .tcp_nodelay(true)
        .build()?;
    let remaining = Arc::new(AtomicUsize::new(spec.requests));
    let spec = Arc::new(spec);
    let started = Instant::now();
    let workers: Vec<_> = (0..spec.concurrency)
        .map(|_| {
            let (client, remaining, spec) = (client.clone(), remaining.clone(), spec.clone());
            tokio::spawn(async move {
                let mut ok = Vec::new();
                let mut failures: Vec<String> = Vec::new();
                while remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                    let t = Instant::now();
                    let mut req = client.post(&spec.url).body(spec.body.clone());
                    for (k, v) in &spec.headers {
                        req = req.header(k, v);
                    }
                    let outcome = match req.send().await {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            match resp.text().await {
                                Ok(text) if status != spec.expect_status => {
                                    Err(format!("status {status}: {}", text.chars().take(200).collect::<String>()))
                                }
                                Ok(text) if spec.expect_body.as_ref().is_some_and(|b| !text.contains(b.as_str())) => {
                                    Err(format!("unexpected body: {}", text.chars().take(200).collect::<String>()))
                                }
                                Ok(_) => Ok(()),
                                Err(e) => Err(format!("reading the body: {e}")),
                            }
                        }
                        Err(e) => Err(format!("request: {e}")),
                    };
                    match outcome {
                        Ok(()) => ok.push(t.elapsed().as_secs_f64() * 1e3),
                        Err(e) => failures.push(e),
                    }
                }
                (ok, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(spec.requests);
    let mut failures = Vec::new();
    for w in workers {
        let (ok, failed) = w.await?;
        latencies.extend(ok);
        failures.extend(failed);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let mean = latencies.iter().sum::<f64>() / latencies.len().max(1) as f64;
    Ok(json!({
        "requests": spec.requests,
        "concurrency": spec.concurrency,
        "ok": latencies.len(),
        "failed": failures.len(),
        "first_failures": failures.iter().take(3).collect::<Vec<_>>(),
        "elapsed_s": elapsed,
        "throughput_per_s": latencies.len() as f64 / elapsed,
        "p50_ms": quantile(&latencies, 0.50),
        "p90_ms": quantile(&latencies, 0.90),
        "p99_ms": quantile(&latencies, 0.99),
        "max_ms": latencies.last().copied().unwrap_or(f64::NAN),
        "mean_ms": mean,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 51.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn a_spec_survives_the_trip_through_arguments() {
        let spec = LoadSpec {
            url: "http://127.0.0.1:1/x?wait=60s".into(),
            headers: vec![("authorization".into(), "Bearer k: with colon".into())],
            body: r#"{"input": {"a": 1}}"#.into(),
            concurrency: 16,
            requests: 4000,
            expect_status: 200,
            expect_body: Some(r#""status":"completed""#.into()),
            timeout: Duration::from_millis(1500),
        };
        let args = spec.to_args();
        assert_eq!(args[0], "load");
        let back = LoadSpec::from_args(&args[1..]).expect("parses");
        assert_eq!(format!("{back:?}"), format!("{spec:?}"));
    }

    #[test]
    fn bad_load_arguments_are_refused() {
        assert!(LoadSpec::from_args(&["--url".into()]).is_err(), "a flag without its value");
        assert!(LoadSpec::from_args(&["--bogus".into(), "1".into()]).is_err());
        assert!(LoadSpec::from_args(&["--concurrency".into(), "4".into()]).is_err(), "no url");
        let zero = ["--url", "http://x", "--concurrency", "0"].map(String::from);
        assert!(LoadSpec::from_args(&zero).is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn requests_to_a_closed_port_are_counted_as_failures() {
        let spec = LoadSpec::from_args(
            &["--url", "http://127.0.0.1:9/nothing", "--requests", "5", "--concurrency", "2"].map(String::from),
        )
        .expect("parses");
        let report = run(spec).await.expect("runs");
        assert_eq!(report["ok"], 0);
        assert_eq!(report["failed"], 5);
    }
}
