//! The HTML report: verdicts first, then latency and throughput over time with the nemesis
//! windows shaded, then the fault timeline and every checker's details.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use super::svg::{escape, Plot, Series};
use crate::checker::CheckResult;
use crate::history::{History, Outcome};

const OK: &str = "#2e7d32";
const FAIL: &str = "#e65100";
const INFO: &str = "#6a1b9a";

fn color(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => OK,
        Outcome::Fail => FAIL,
        Outcome::Info => INFO,
    }
}

fn stalls(h: &History) -> Vec<(f64, f64)> {
    h.stalls
        .iter()
        .map(|w| (w.start_ns as f64 / 1e9, w.end_ns as f64 / 1e9))
        .collect()
}

fn windows(h: &History) -> Vec<(f64, f64, String)> {
    h.nemesis
        .iter()
        .map(|w| {
            (
                w.start_ns as f64 / 1e9,
                w.end_ns as f64 / 1e9,
                format!("{}: {}", w.kind, w.description),
            )
        })
        .collect()
}

/// One latency scatter per operation type; at most ~8000 ok points each (all failures kept).
fn latency_plots(h: &History, x_max: f64) -> Vec<String> {
    let mut by_f: BTreeMap<&str, Vec<&crate::history::Op>> = BTreeMap::new();
    for o in h.ops.iter().filter(|o| o.f != "final-read") {
        by_f.entry(o.f.as_str()).or_default().push(o);
    }
    by_f.into_iter()
        .map(|(f, ops)| {
            let stride = (ops.iter().filter(|o| o.outcome == Outcome::Ok).count() / 8000).max(1);
            let series = [Outcome::Ok, Outcome::Fail, Outcome::Info]
                .into_iter()
                .map(|out| Series {
                    label: format!("{out:?}").to_lowercase(),
                    color: color(out),
                    points: ops
                        .iter()
                        .filter(|o| o.outcome == out)
                        .enumerate()
                        .filter(|(i, _)| out != Outcome::Ok || i % stride == 0)
                        .map(|(_, o)| (o.invoke_ns as f64 / 1e9, o.latency_ms().max(0.01)))
                        .collect(),
                    line: false,
                })
                .collect();
            Plot {
                title: format!("{f} latency"),
                y_label: "latency (ms, log)".into(),
                x_max,
                y_log: true,
                windows: windows(h),
                stalls: stalls(h),
                series,
            }
            .render()
        })
        .collect()
}

/// Completions per second, by outcome.
fn throughput_plot(h: &History, x_max: f64) -> String {
    let buckets = x_max.ceil() as usize + 1;
    let mut counts: BTreeMap<Outcome, Vec<f64>> = BTreeMap::new();
    for o in h
        .ops
        .iter()
        .filter(|o| o.f != "final-read" && o.f != "proxy-get")
    {
        let b = ((o.complete_ns as f64 / 1e9) as usize).min(buckets - 1);
        counts
            .entry(o.outcome)
            .or_insert_with(|| vec![0.0; buckets])[b] += 1.0;
    }
    let series = counts
        .into_iter()
        .map(|(out, c)| Series {
            label: format!("{out:?}").to_lowercase(),
            color: color(out),
            points: c
                .into_iter()
                .enumerate()
                .map(|(i, n)| (i as f64 + 0.5, n))
                .collect(),
            line: true,
        })
        .collect();
    Plot {
        title: "throughput (client operations completed per second)".into(),
        y_label: "ops/s".into(),
        x_max,
        y_log: false,
        windows: windows(h),
        stalls: stalls(h),
        series,
    }
    .render()
}

pub fn render(title: &str, params: &Value, history: &History, results: &[CheckResult]) -> String {
    let x_max = history.end_ns() as f64 / 1e9;
    let all_valid = results.iter().all(CheckResult::is_valid);
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}}\
         .ok{{color:{OK};font-weight:bold}}.bad{{color:#c62828;font-weight:bold}}.unk{{color:{INFO};font-weight:bold}}\
         pre{{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}}</style></head><body>\
         <h1>{t}</h1><p class=\"{c}\">{verdict}</p>",
        t = escape(title),
        c = if all_valid { "ok" } else { "bad" },
        verdict = if all_valid { "All checkers valid." } else { "CHECKER FAILURE — see below." }
    );
    s.push_str("<h2>Checkers</h2><table><tr><th>checker</th><th>verdict</th><th>summary</th></tr>");
    for r in results {
        let (class, word) = match r.valid {
            crate::checker::Validity::Valid => ("ok", "valid"),
            crate::checker::Validity::Invalid => ("bad", "INVALID"),
            crate::checker::Validity::Unknown => ("unk", "unknown"),
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"{class}\">{word}</td><td>{}</td></tr>",
            escape(&r.checker),
            escape(&r.summary)
        );
    }
    s.push_str("</table>");
    let counts = history
        .ops
        .iter()
        .fold(BTreeMap::<(String, String), usize>::new(), |mut m, o| {
            *m.entry((o.f.clone(), format!("{:?}", o.outcome).to_lowercase()))
                .or_default() += 1;
            m
        });
    s.push_str("<h2>Operations</h2><table><tr><th>f</th><th>outcome</th><th>count</th></tr>");
    for ((f, o), n) in counts {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{o}</td><td>{n}</td></tr>",
            escape(&f)
        );
    }
    s.push_str("</table><h2>Latency and throughput</h2><p>Shaded red: nemesis windows (hover for the fault); grey: the harness itself stalled.</p>");
    s.push_str(&throughput_plot(history, x_max));
    for p in latency_plots(history, x_max) {
        s.push_str(&p);
    }
    s.push_str("<h2>Nemesis timeline</h2><table><tr><th>start (s)</th><th>end (s)</th><th>kind</th><th>what</th></tr>");
    for w in &history.nemesis {
        let _ = write!(
            s,
            "<tr><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            w.start_ns as f64 / 1e9,
            w.end_ns as f64 / 1e9,
            escape(&w.kind),
            escape(&w.description)
        );
    }
    for w in &history.stalls {
        let _ = write!(
            s,
            "<tr><td>{:.1}</td><td>{:.1}</td><td>harness stall</td><td>the harness was not scheduled for {:.0} ms</td></tr>",
            w.start_ns as f64 / 1e9,
            w.end_ns as f64 / 1e9,
            (w.end_ns - w.start_ns) as f64 / 1e6
        );
    }
    s.push_str("</table><h2>Checker details</h2>");
    for r in results {
        let _ = write!(
            s,
            "<details{}><summary>{}</summary><pre>{}</pre></details>",
            if r.is_valid() { "" } else { " open" },
            escape(&r.checker),
            escape(&serde_json::to_string_pretty(&r.details).unwrap_or_default())
        );
    }
    let _ = write!(
        s,
        "<h2>Run</h2><pre>{}</pre><p>Files: <a href=\"history.jsonl\">history.jsonl</a>, \
         <a href=\"results.json\">results.json</a>, replica logs in <code>n*/rafthub.log</code>.</p></body></html>",
        escape(&serde_json::to_string_pretty(params).unwrap_or_default())
    );
    s
}
