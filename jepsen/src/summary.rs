//! Summaries over many runs (`batch`, `summarize`): one Markdown row per nemesis with lost
//! writes, linearizability violations and pooled failover percentiles, for
//! `docs/reliability.md`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

use crate::checker::percentile;

#[derive(Debug, Default)]
struct Group {
    runs: usize,
    valid: usize,
    errors: usize,
    faults: u64,
    acked: u64,
    indeterminate: u64,
    lost: u64,
    reads: u64,
    writes: u64,
    violations: u64,
    unconverged: u64,
    proxy_failed: u64,
    panics: u64,
    failover_ms: Vec<f64>,
    leader_fault_ms: Vec<f64>,
}

fn checker<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    doc["checkers"]
        .as_array()?
        .iter()
        .find(|c| c["checker"] == name)
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Reads every `results.json` (a directory or the file itself); a missing or unreadable
/// one counts as a harness error for the group named by `fallback`.
pub fn summarize(paths: &[impl AsRef<Path>]) -> String {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for p in paths {
        let p = p.as_ref();
        let file = if p.is_dir() {
            p.join("results.json")
        } else {
            p.to_path_buf()
        };
        let doc: Option<Value> = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let Some(doc) = doc else {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let group = name
                .rsplit_once('-')
                .map(|(g, _)| g.to_string())
                .unwrap_or(name);
            let g = groups.entry(group).or_default();
            g.runs += 1;
            g.errors += 1;
            continue;
        };
        let nem = doc["params"]["nemeses"].as_array().map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        });
        let combine = doc["params"]["combine"].as_bool().unwrap_or(false);
        let mut name = nem.unwrap_or_default();
        if name.is_empty() {
            name = "none".into();
        }
        if combine {
            name.push_str(" (combined)");
        }
        let g = groups.entry(name).or_default();
        g.runs += 1;
        g.valid += usize::from(doc["valid"] == true);
        if let Some(s) = checker(&doc, "set") {
            g.acked += num(&s["details"]["acknowledged"]);
            g.indeterminate += num(&s["details"]["indeterminate"]);
            g.lost += num(&s["details"]["lost_count"]);
        }
        if let Some(r) = checker(&doc, "register") {
            g.reads += num(&r["details"]["reads"]);
            g.writes += num(&r["details"]["writes"]);
            g.violations += r["details"]["failures"]
                .as_array()
                .map(|a| a.len() as u64)
                .unwrap_or(0);
        }
        if let Some(p) = checker(&doc, "proxy") {
            g.proxy_failed += num(&p["details"]["failed_while_up"]);
        }
        if let Some(l) = checker(&doc, "logs") {
            g.panics += num(&l["details"]["panic_count"]);
        }
        if let Some(c) = checker(&doc, "convergence") {
            g.unconverged += u64::from(c["valid"] != true);
        }
        if let Some(f) = checker(&doc, "failover") {
            if let Some(kinds) = f["details"]["by_kind"].as_object() {
                for (kind, v) in kinds {
                    let ms = v["all_ms"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_f64);
                    if kind == "kill-leader" {
                        g.failover_ms.extend(ms);
                    } else {
                        g.leader_fault_ms.extend(ms);
                    }
                }
            }
        }
        g.faults += doc["faults"].as_u64().unwrap_or(0);
    }
    let fmt = |v: &[f64], p: f64| {
        percentile(v, p)
            .map(|x| format!("{x:.0}"))
            .unwrap_or_else(|| "–".into())
    };
    let mut s = String::new();
    s.push_str("| nemesis | runs | faults | all checkers valid | acked creates | lost | indeterminate | register reads / writes | linearizability violations | not converged | proxy failures on live replicas | replica panics | kill-leader failover p50 / p99 (ms, n) | other leader faults p50 / p99 (ms, n) |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (name, g) in &groups {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {}{} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} / {} ({}) | {} / {} ({}) |",
            g.runs,
            g.faults,
            g.valid,
            if g.errors > 0 { format!(" ({} harness errors)", g.errors) } else { String::new() },
            g.acked,
            g.lost,
            g.indeterminate,
            g.reads,
            g.writes,
            g.violations,
            g.unconverged,
            g.proxy_failed,
            g.panics,
            fmt(&g.failover_ms, 50.0),
            fmt(&g.failover_ms, 99.0),
            g.failover_ms.len(),
            fmt(&g.leader_fault_ms, 50.0),
            fmt(&g.leader_fault_ms, 99.0),
            g.leader_fault_ms.len(),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_results_files() {
        let dir = std::env::temp_dir().join(format!("rafthub-jepsen-sum-{}", std::process::id()));
        let run = dir.join("kill-1");
        std::fs::create_dir_all(&run).expect("mkdir");
        let doc = serde_json::json!({
            "valid": true,
            "params": {"nemeses": ["kill", "kill-leader"], "combine": false},
            "checkers": [
                {"checker": "set", "valid": true, "details": {"acknowledged": 100, "indeterminate": 3, "lost_count": 0}},
                {"checker": "register", "valid": true, "details": {"reads": 50, "writes": 40, "failures": []}},
                {"checker": "convergence", "valid": true, "details": {}},
                {"checker": "failover", "valid": true, "details": {"by_kind": {"kill-leader": {"all_ms": [900.0, 1100.0]}}}}
            ]
        });
        std::fs::write(run.join("results.json"), doc.to_string()).expect("write");
        let md = summarize(&[run, dir.join("kill-2")]);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            md.contains(
                "| kill,kill-leader | 1 | 0 | 1 | 100 | 0 | 3 | 50 / 40 | 0 | 0 | 0 | 0 | 900 / 1100 (2) |"
            ),
            "{md}"
        );
        assert!(md.contains("| kill | 1 | 0 | 0 (1 harness errors)"), "{md}");
    }
}
