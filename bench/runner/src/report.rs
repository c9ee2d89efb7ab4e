//! Turns the results into what is published: the targets met or missed, markdown tables (min/median/max over
//! the repeated runs) and the latency-vs-concurrency plot.

use anyhow::Result;
use plotters::prelude::*;
use serde_json::{Value, json};
use std::fmt::Write;
use std::path::Path;

/// (min, median, max) of some numbers; NaN for none.
pub fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn median(v: Vec<f64>) -> f64 {
    spread(v).1
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// One field of every round of one dispatch path, e.g. ("alur", "p50_us").
fn dispatch_field(r: &Value, path: &str, field: &str) -> Vec<f64> {
    r["dispatch"]["paths"][path].as_array().map(|a| a.iter().map(|s| f(&s[field])).collect()).unwrap_or_default()
}

/// One field of every run of a system at one concurrency.
fn e2e_field(r: &Value, system: &str, c: u64, field: &str) -> Vec<f64> {
    r[system]["runs"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["concurrency"].as_u64() == Some(c)).map(|x| f(&x[field])).collect())
        .unwrap_or_default()
}

fn probe_field(v: &Value, field: &str) -> Vec<f64> {
    v.as_array().map(|a| a.iter().map(|x| f(&x[field])).collect()).unwrap_or_default()
}

fn cold_field(r: &Value, lang: &str, field: &str) -> Vec<f64> {
    r["cold_start"]["runs"].as_array().map(|a| a.iter().map(|x| f(&x[lang][field])).collect()).unwrap_or_default()
}

fn target(name: &str, value: f64, bar: &str, met: bool) -> Value {
    json!({ "target": name, "value": value, "bar": bar, "met": met })
}

/// The raw-wasmtime floor's p50: the faster of its async and sync paths (medians over the rounds).
fn floor_p50(r: &Value) -> f64 {
    let sync = dispatch_field(r, "floor-sync", "p50_us");
    let floor = median(dispatch_field(r, "floor", "p50_us"));
    if sync.is_empty() { floor } else { floor.min(median(sync)) }
}

/// Every target of issue 7, with the measured value (medians over the repeated runs).
pub fn targets(r: &Value) -> Value {
    let floor = floor_p50(r);
    let alur = median(dispatch_field(r, "alur", "p50_us"));
    let fresh = median(dispatch_field(r, "extism fresh plugin", "p50_us"));
    let mut t = vec![
        target("step dispatch: Alur / raw-wasmtime floor (p50)", alur / floor, "<= 1.25", alur / floor <= 1.25),
        target("step dispatch: Alur / Extism fresh plugin (p50)", alur / fresh, "< 1", alur < fresh),
    ];
    for c in [16, 64] {
        let a = median(e2e_field(r, "e2e_alur", c, "throughput_per_s"));
        let p = median(e2e_field(r, "e2e_restate", c, "throughput_per_s"));
        t.push(target(&format!("end to end c={c}: Alur / Restate throughput"), a / p, ">= 10", a / p >= 10.0));
        let a99 = median(e2e_field(r, "e2e_alur", c, "p99_ms"));
        let p99 = median(e2e_field(r, "e2e_restate", c, "p99_ms"));
        t.push(target(&format!("end to end c={c}: Alur p99 / Restate p99"), a99 / p99, "<= 0.2", a99 / p99 <= 0.2));
    }
    // From the spawn of the restarted process, not from its listening line: a user who restarts a node waits
    // for both.
    let restart = median(cold_field(r, "rust", "restart_to_first_result_ms"));
    t.push(target("restart (spawn) -> first result from cache, Rust plugin (ms)", restart, "<= 10", restart <= 10.0));
    let rss = f(&r["scale"]["many"]["rss_mib"]);
    let tenants = r["scale"]["many"]["tenants"].as_u64().unwrap_or(0);
    t.push(target(&format!("{tenants} tenants: RSS (MiB)"), rss, "<= 512", rss <= 512.0));
    let one99 = median(probe_field(&r["scale"]["one"]["probe"], "p99_ms"));
    let many99 = median(probe_field(&r["scale"]["many"]["probe"], "p99_ms"));
    t.push(target(
        &format!("{tenants} tenants: one tenant's p99 / 1-tenant p99"),
        many99 / one99,
        "<= 1.5",
        many99 / one99 <= 1.5,
    ));
    let alone = median(probe_field(&r["noisy"]["alone"], "p99_ms"));
    let crowded = median(probe_field(&r["noisy"]["with_8_spinning_neighbours"], "p99_ms"));
    t.push(target("noisy neighbours: p99 with 8 spinning / alone", crowded / alone, "<= 2", crowded / alone <= 2.0));
    json!(t)
}

fn triple(v: Vec<f64>, digits: usize) -> String {
    let (a, b, c) = spread(v);
    format!("{a:.digits$} / **{b:.digits$}** / {c:.digits$}")
}

/// The tables of BENCHMARKS.md.
pub fn markdown(r: &Value) -> String {
    let mut s = String::new();
    let m = &r["machine"];
    let _ = writeln!(
        s,
        "Machine: {} cores, {:.1} GiB, {} (kernel {}); load average before the run {}, after {}; mode `{}`; run took {:.0} s.\n",
        m["cores"],
        f(&m["memory_gib"]),
        m["cpu_model"].as_str().unwrap_or("?"),
        m["kernel"].as_str().unwrap_or("?"),
        m["loadavg"].as_str().unwrap_or("?"),
        r["loadavg_after"].as_str().unwrap_or("?"),
        r["mode"].as_str().unwrap_or("?"),
        f(&r["duration_s"]),
    );
    let v = &r["versions"];
    let _ = writeln!(
        s,
        "Versions: Alur {} ({}, wasmtime {}), Extism {}, {} with {} on node {}.\n",
        v["alur"].as_str().unwrap_or("?"),
        v["rustc"].as_str().unwrap_or("?"),
        v["wasmtime_alur"].as_str().unwrap_or("?"),
        v["extism"].as_str().unwrap_or("?"),
        v["restate"]["server"].as_str().unwrap_or("?"),
        v["restate"]["sdk"].as_str().unwrap_or("?"),
        v["restate"]["node"].as_str().unwrap_or("?"),
    );
    let _ = writeln!(s, "Each cell: min / **median** / max over the repeated runs (or rounds).\n");

    // 1. Dispatch.
    let d = &r["dispatch"];
    let _ = writeln!(
        s,
        "### Step dispatch: no-op Rust step, {}-byte JSON input ({} rounds x {} calls)\n",
        d["input_bytes"], d["rounds"], d["iterations"]
    );
    let _ = writeln!(
        s,
        "| path | p50 µs | p99 µs | mean µs | p50 / floor (the faster of async and sync) |\n| --- | --- | --- | --- | --- |"
    );
    let floor = floor_p50(r);
    for (path, label) in [
        ("floor", "raw wasmtime floor (pooled InstancePre, slots reset in place, fresh store, async call)"),
        ("floor-sync", "the same floor through wasmtime's sync API (WASI's sync bindings)"),
        ("floor+fuel", "floor (async) with fuel metering"),
        ("alur", "**Alur full dispatch** (fresh instance per call)"),
        ("floor+default-pool", "floor with wasmtime's default pool (every slot madvised on reuse)"),
        ("extism reused plugin", "Extism 1.30, one plugin reused"),
        ("extism fresh plugin", "Extism 1.30, fresh plugin per call (from CompiledPlugin)"),
    ] {
        let p50 = dispatch_field(r, path, "p50_us");
        if p50.is_empty() {
            continue;
        }
        let ratio = median(p50.clone()) / floor;
        let _ = writeln!(
            s,
            "| {label} | {} | {} | {} | {ratio:.2} |",
            triple(p50, 1),
            triple(dispatch_field(r, path, "p99_us"), 1),
            triple(dispatch_field(r, path, "mean_us"), 1),
        );
    }
    let _ = writeln!(
        s,
        "\nCompile of the noop component: {:.0} ms; load from Alur's on-disk cache: {:.1} ms. Extism: compile {:.0} ms.\n",
        f(&d["compile_ms"]),
        f(&d["cache_load_ms"]),
        f(&d["extism"]["compile_ms"])
    );
    if let Some(guests) = d["guests"].as_object().filter(|g| !g.is_empty()) {
        let _ = writeln!(
            s,
            "Guests of other languages through Alur's full dispatch (the same no-op, 1 KB input):\n\n\
             | guest | component | compile | first call | fresh-instance call p50 | p99 | load from disk cache |\n\
             | --- | --- | --- | --- | --- | --- | --- |"
        );
        for (lang, g) in guests {
            let runs = g["fresh_instance"].as_array().cloned().unwrap_or_default();
            let p50: Vec<f64> = runs.iter().map(|x| f(&x["p50_us"]) / 1e3).collect();
            let p99: Vec<f64> = runs.iter().map(|x| f(&x["p99_us"]) / 1e3).collect();
            let _ = writeln!(
                s,
                "| {lang} | {:.1} MB | {:.1} s | {:.2} ms | {} ms | {} ms | {:.0} ms |",
                f(&g["bytes"]) / 1e6,
                f(&g["compile_ms"]) / 1e3,
                f(&g["first_call_us"]) / 1e3,
                triple(p50, 2),
                triple(p99, 2),
                f(&g["cache_load_ms"]),
            );
        }
        s.push('\n');
    }

    // 2-3. End to end.
    let _ = writeln!(
        s,
        "### End to end over HTTP: three-step `lead-intake`-like workflow, start and wait for the result\n\n\
         CPU columns are in % of one core: the server's CPU, the time its threads were runnable but waited for a \
         core (the rest of the machine's load, or its own threads outnumbering the cores), and the load generator's CPU.\n\n\
         | system | clients | requests | workflows/s | p50 ms | p99 ms | server CPU % | server waiting for a CPU % | load generator CPU % | server RSS peak MiB |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for (system, label) in [("e2e_alur", "Alur"), ("e2e_restate", "Restate")] {
        for c in [1u64, 16, 64, 256] {
            let requests = r[system]["runs"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["concurrency"].as_u64() == Some(c)))
                .map(|x| x["requests"].clone())
                .unwrap_or(Value::Null);
            let _ = writeln!(
                s,
                "| {label} | {c} | {requests} | {} | {} | {} | {} | {} | {} | {} |",
                triple(e2e_field(r, system, c, "throughput_per_s"), 0),
                triple(e2e_field(r, system, c, "p50_ms"), 2),
                triple(e2e_field(r, system, c, "p99_ms"), 2),
                triple(e2e_field(r, system, c, "server_cpu_pct"), 0),
                triple(e2e_field(r, system, c, "server_runqueue_wait_pct"), 0),
                triple(e2e_field(r, system, c, "loadgen_cpu_pct"), 0),
                triple(e2e_field(r, system, c, "server_rss_peak_mib"), 0),
            );
        }
    }
    let _ = writeln!(
        s,
        "\n| clients | Alur / Restate throughput | Restate p99 / Alur p99 | Alur / Restate CPU per workflow |\n| --- | --- | --- | --- |"
    );
    for c in [1u64, 16, 64, 256] {
        let thr = |sys| median(e2e_field(r, sys, c, "throughput_per_s"));
        let p99 = |sys| median(e2e_field(r, sys, c, "p99_ms"));
        let cpu = |sys| median(e2e_field(r, sys, c, "server_cpu_pct")) / thr(sys);
        let _ = writeln!(
            s,
            "| {c} | {:.1}x | {:.1}x | {:.2} |",
            thr("e2e_alur") / thr("e2e_restate"),
            p99("e2e_restate") / p99("e2e_alur"),
            cpu("e2e_alur") / cpu("e2e_restate"),
        );
    }
    s.push('\n');
    let tmp = &r["e2e_tmpfs"];
    if tmp.is_object() {
        let _ = writeln!(
            s,
            "Diagnostic, not durable: both systems with their data on tmpfs (fsync costs next to nothing), one run:\n\n\
             | clients | Alur workflows/s | p99 ms | Restate workflows/s | p99 ms | throughput ratio |\n| --- | --- | --- | --- | --- | --- |"
        );
        for c in [16u64, 64] {
            let a = median(e2e_field(tmp, "e2e_alur", c, "throughput_per_s"));
            let p = median(e2e_field(tmp, "e2e_restate", c, "throughput_per_s"));
            let _ = writeln!(
                s,
                "| {c} | {a:.0} | {:.2} | {p:.0} | {:.2} | {:.1}x |",
                median(e2e_field(tmp, "e2e_alur", c, "p99_ms")),
                median(e2e_field(tmp, "e2e_restate", c, "p99_ms")),
                a / p
            );
        }
        s.push('\n');
    }

    // 4. Cold start.
    let _ = writeln!(
        s,
        "### Cold start (one-step process; fresh data dir, then a restart per plugin)\n\n\
         | plugin | upload | deploy | first run | upload → first result | restart → listening | listening → first result | restart → first result |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for lang in ["rust", "python"] {
        if cold_field(r, lang, "upload_ms").iter().all(|x| x.is_nan()) {
            continue;
        }
        let _ = writeln!(
            s,
            "| {lang} | {} ms | {} ms | {} ms | {} ms | {} ms | {} ms | {} ms |",
            triple(cold_field(r, lang, "upload_ms"), 1),
            triple(cold_field(r, lang, "deploy_ms"), 1),
            triple(cold_field(r, lang, "first_run_ms"), 1),
            triple(cold_field(r, lang, "upload_to_first_result_ms"), 1),
            triple(cold_field(r, lang, "restart_to_listening_ms"), 1),
            triple(cold_field(r, lang, "listening_to_first_result_ms"), 2),
            triple(cold_field(r, lang, "restart_to_first_result_ms"), 2),
        );
    }
    let breakdown = |field: &str| -> Vec<f64> {
        r["cold_start"]["runs"]
            .as_array()
            .map(|a| a.iter().map(|x| f(&x["rust"]["breakdown_after_restart"][field])).collect())
            .unwrap_or_default()
    };
    let _ = writeln!(
        s,
        "\nAfter another restart (Rust): an authenticated read first {} ms, then the first run {} ms, then a \
         second run {} ms.",
        triple(breakdown("first_authenticated_read_ms"), 2),
        triple(breakdown("then_first_run_ms"), 2),
        triple(breakdown("then_second_run_ms"), 2),
    );
    s.push('\n');

    // 5. Scale.
    let sc = &r["scale"];
    let _ = writeln!(
        s,
        "### Scale: tenants, each with one plugin and one three-step process deployed\n\n\
         | tenants | server RSS | one tenant's start+wait p50 | p99 | p99 / 1-tenant p99 |\n| --- | --- | --- | --- | --- |"
    );
    let one99 = median(probe_field(&sc["one"]["probe"], "p99_ms"));
    for key in ["one", "many"] {
        let p99 = probe_field(&sc[key]["probe"], "p99_ms");
        let _ = writeln!(
            s,
            "| {} | {:.0} MiB | {} ms | {} ms | {:.2} |",
            sc[key]["tenants"],
            f(&sc[key]["rss_mib"]),
            triple(probe_field(&sc[key]["probe"], "p50_ms"), 2),
            triple(p99.clone(), 2),
            median(p99) / one99,
        );
    }
    let _ = writeln!(
        s,
        "\nSetting the tenants up took {:.0} s; data directory {:.0} MiB.\n",
        f(&sc["many"]["setup_s"]),
        f(&sc["many"]["data_dir_bytes"]) / 1048576.0
    );

    // 6. Noisy neighbours.
    let n = &r["noisy"];
    let _ = writeln!(
        s,
        "### Noisy neighbours: one tenant's three-step workflow (1 client) while 8 tenants run steps that spin until their 1 s timeout\n\n\
         | | p50 ms | p90 ms | p99 ms | workflows/s | server CPU % | server waiting for a CPU % |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for (key, label) in [("alone", "alone"), ("with_8_spinning_neighbours", "with 8 spinning neighbours")] {
        let _ = writeln!(
            s,
            "| {label} | {} | {} | {} | {} | {} | {} |",
            triple(probe_field(&n[key], "p50_ms"), 2),
            triple(probe_field(&n[key], "p90_ms"), 2),
            triple(probe_field(&n[key], "p99_ms"), 2),
            triple(probe_field(&n[key], "throughput_per_s"), 0),
            triple(probe_field(&n[key], "server_cpu_pct"), 0),
            triple(probe_field(&n[key], "server_runqueue_wait_pct"), 0),
        );
    }
    for (key, label) in [("alone", "alone"), ("with_8_spinning_neighbours", "with 8 spinning neighbours")] {
        if let Some(j) = n[key].as_array().and_then(|a| a.last()).map(|x| &x["journal"]) {
            let steps: Vec<String> = j["steps"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|st| {
                            format!(
                                "{} {} ms ({} ms running)",
                                st["step"].as_str().unwrap_or("?"),
                                st["started_to_completed_ms"],
                                st["step_run_ms"]
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "\nOne workflow {label}, from its journal: request {:.1} ms, journal span {} ms; step start → completion: {}.",
                f(&j["request_ms"]),
                j["journal_span_ms"],
                steps.join(", ")
            );
        }
    }
    s.push('\n');

    // Targets.
    let _ = writeln!(s, "### Targets\n\n| target | measured | bar | |\n| --- | --- | --- | --- |");
    for t in r["targets"].as_array().cloned().unwrap_or_default() {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {} | {} |",
            t["target"].as_str().unwrap_or("?"),
            f(&t["value"]),
            t["bar"].as_str().unwrap_or("?"),
            if t["met"] == true { "met" } else { "**missed**" }
        );
    }
    s
}

/// A plotted line: label, points, colour, and whether it is a p99 line (drawn thinner).
type Series = (String, Vec<(f64, f64)>, RGBColor, bool);

/// p50 and p99 against concurrency, both systems, log-log, as SVG.
pub fn plot(r: &Value, path: &Path) -> Result<()> {
    let cs = [1u64, 16, 64, 256];
    let series: Vec<Series> =
        [("Alur", "e2e_alur", RGBColor(0, 114, 178)), ("Restate", "e2e_restate", RGBColor(213, 94, 0))]
            .iter()
            .flat_map(|(label, sys, color)| {
                ["p50_ms", "p99_ms"].into_iter().map(move |field| {
                    let points: Vec<(f64, f64)> = cs
                        .iter()
                        .map(|&c| (c as f64, median(e2e_field(r, sys, c, field))))
                        .filter(|(_, y)| y.is_finite() && *y > 0.0)
                        .collect();
                    (format!("{label} {}", &field[..3]), points, *color, field == "p99_ms")
                })
            })
            .collect();
    let ys: Vec<f64> = series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).collect();
    let (lo, hi) = ys.iter().fold((f64::MAX, f64::MIN), |(a, b), &y| (a.min(y), b.max(y)));
    let (lo, hi) = if lo <= hi { (lo / 2.0, hi * 2.0) } else { (0.1, 1000.0) };

    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Three-step durable workflow over HTTP: latency vs concurrency", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0.8f64..320f64).log_scale(), (lo..hi).log_scale())?;
    chart.configure_mesh().x_desc("concurrent clients").y_desc("latency (ms)").x_labels(8).y_labels(8).draw()?;
    for (label, points, color, dashed) in series {
        let style = ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: if dashed { 1 } else { 2 } };
        chart
            .draw_series(LineSeries::new(points.clone(), style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(c: u64, throughput: f64, p99: f64) -> Value {
        json!({ "concurrency": c, "throughput_per_s": throughput, "p99_ms": p99, "p50_ms": p99 / 2.0 })
    }

    /// A results object with every section, Alur at `factor` times Restate's throughput.
    fn results(factor: f64) -> Value {
        let rounds = |p50: f64| json!([{ "p50_us": p50, "p99_us": p50 * 2.0, "mean_us": p50 }]);
        let e2e = |k: f64| json!({ "runs": [run(16, 400.0 * k, 80.0 / k), run(64, 500.0 * k, 200.0 / k)] });
        json!({
            "dispatch": { "paths": {
                "floor": rounds(20.0), "alur": rounds(24.0), "extism fresh plugin": rounds(300.0),
            } },
            "e2e_alur": e2e(factor),
            "e2e_restate": e2e(1.0),
            "cold_start": { "runs": [{ "rust": { "listening_to_first_result_ms": 4.0, "restart_to_first_result_ms": 9.0 } }] },
            "scale": {
                "one": { "probe": [{ "p99_ms": 3.0 }] },
                "many": { "tenants": 10001, "rss_mib": 44.0, "probe": [{ "p99_ms": 4.0 }] },
            },
            "noisy": { "alone": [{ "p99_ms": 3.0 }], "with_8_spinning_neighbours": [{ "p99_ms": 400.0 }] },
        })
    }

    #[test]
    fn spread_is_min_median_max_of_the_finite_values() {
        assert_eq!(spread(vec![3.0, f64::NAN, 1.0, 2.0]), (1.0, 2.0, 3.0));
        assert!(spread(vec![]).1.is_nan());
    }

    #[test]
    fn targets_are_met_or_missed_by_the_numbers() {
        let met = |r: &Value, name: &str| {
            r.as_array().unwrap().iter().find(|t| t["target"].as_str().unwrap().starts_with(name)).unwrap()["met"]
                == true
        };
        let slow = targets(&results(3.0));
        assert!(met(&slow, "step dispatch: Alur / raw"), "24/20 = 1.2");
        assert!(met(&slow, "step dispatch: Alur / Extism"));
        assert!(!met(&slow, "end to end c=16: Alur / Restate throughput"), "3x is not 10x");
        assert!(!met(&slow, "end to end c=64: Alur p99"), "1/3 is not 1/5");
        assert!(met(&slow, "restart"), "9 ms from the spawn");
        assert!(met(&slow, "10001 tenants: RSS"));
        assert!(met(&slow, "10001 tenants: one tenant"), "4/3 = 1.33");
        assert!(!met(&slow, "noisy"));
        let fast = targets(&results(10.0));
        assert!(met(&fast, "end to end c=16: Alur / Restate throughput"));
        assert!(met(&fast, "end to end c=64: Alur p99"));
    }

    #[test]
    fn the_floor_is_the_faster_of_the_async_and_sync_paths() {
        let rounds = |p50: f64| json!([{ "p50_us": p50, "p99_us": p50 * 2.0, "mean_us": p50 }]);
        let mut r = results(3.0);
        assert_eq!(floor_p50(&r), 20.0, "no sync path measured: the async one");
        r["dispatch"]["paths"]["floor-sync"] = rounds(21.0);
        assert_eq!(floor_p50(&r), 20.0);
        r["dispatch"]["paths"]["floor-sync"] = rounds(19.0);
        assert_eq!(floor_p50(&r), 19.0);
        let met = targets(&r)[0]["met"] == true;
        assert!(!met, "24/19 > 1.25");
    }

    #[test]
    fn the_markdown_and_the_plot_come_out_of_a_results_object() {
        let r = results(3.0);
        let mut r = r;
        r["targets"] = targets(&r);
        let md = markdown(&r);
        assert!(md.contains("| Alur | 16 |"), "{md}");
        assert!(md.contains("**missed**"));
        let dir = std::env::temp_dir().join(format!("bench-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let svg = dir.join("latency.svg");
        plot(&r, &svg).expect("plots");
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg") && text.contains("Restate p99"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
