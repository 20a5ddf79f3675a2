//! Run output: `history.jsonl` (every event), `results.json` (every checker's verdict and
//! evidence) and `report.html` (verdicts, plots, fault timeline).

pub mod html;
pub mod svg;

use std::io::BufWriter;
use std::path::Path;

use anyhow::Context;
use serde_json::{json, Value};

use crate::checker::CheckResult;
use crate::history::History;

/// Writes the three output files into `dir`. Returns whether every checker is valid.
pub fn write(
    dir: &Path,
    title: &str,
    params: &Value,
    history: &History,
    results: &[CheckResult],
) -> anyhow::Result<bool> {
    std::fs::create_dir_all(dir)?;
    let f = std::fs::File::create(dir.join("history.jsonl")).context("history.jsonl")?;
    history.write_jsonl(BufWriter::new(f))?;
    let valid = results.iter().all(CheckResult::is_valid);
    let doc = json!({"valid": valid, "faults": history.nemesis.len(), "params": params, "checkers": results});
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    std::fs::write(
        dir.join("report.html"),
        html::render(title, params, history, results),
    )?;
    Ok(valid)
}
