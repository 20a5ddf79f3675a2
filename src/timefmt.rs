//! Timestamps as upstream JupyterHub writes and reads them.
//!
//! Output: UTC ISO-8601 with a trailing `Z`, microseconds only when non-zero
//! (`2024-05-01T12:00:00.123456Z`, `2024-05-01T12:00:00Z`), as Python's `isoformat` + `Z`.
//! Input: ISO-8601 with `Z`, a numeric offset, or none (naive means UTC, as dateutil does).

use rafthub_raft::state::model::Ts;

/// Days since 1970-01-01 → (year, month, day). Howard Hinnant's civil_from_days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats microseconds since the epoch as upstream does.
pub fn iso(ts: Ts) -> String {
    let secs = ts.div_euclid(1_000_000);
    let micros = ts.rem_euclid(1_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (h, mi, s) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    if micros == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}Z")
    }
}

/// `null` for unset timestamps, as upstream's `isoformat(None)`.
pub fn iso_opt(ts: Option<Ts>) -> serde_json::Value {
    match ts {
        Some(t) => serde_json::Value::String(iso(t)),
        None => serde_json::Value::Null,
    }
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses an ISO-8601 timestamp into microseconds since the epoch (UTC).
pub fn parse(s: &str) -> Option<Ts> {
    let s = s.trim();
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let mut dp = date.split('-');
    let (y, mo, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if dp.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || date.len() != 10
    {
        return None;
    }
    // Split off the zone: Z, +HH:MM, -HH:MM, +HHMM, +HH.
    let (time, offset_secs) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0i64)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (t, z) = rest.split_at(i);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let z = z[1..].replace(':', "");
        let (hh, mm) = match z.len() {
            2 => (num(&z)?, 0),
            4 => (num(&z[..2])?, num(&z[2..])?),
            _ => return None,
        };
        if hh > 23 || mm > 59 {
            return None;
        }
        (t, sign * (hh as i64 * 3600 + mm as i64 * 60))
    } else {
        (rest, 0)
    };
    let (mut h, mut mi, mut sec, mut micros) = (0u32, 0u32, 0u32, 0u32);
    if !time.is_empty() {
        let (hms, frac) = match time.split_once(['.', ',']) {
            Some((a, b)) => (a, Some(b)),
            None => (time, None),
        };
        let parts: Vec<&str> = hms.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        h = num(parts[0])?;
        mi = num(parts[1])?;
        if parts.len() == 3 {
            sec = num(parts[2])?;
        }
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let padded = format!("{:0<6}", &f[..f.len().min(6)]);
            micros = padded.parse().ok()?;
        }
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
    }
    let days = days_from_civil(y as i64, mo, d);
    // Reject impossible dates such as Feb 30 by round-tripping.
    if civil_from_days(days) != (y as i64, mo, d) {
        return None;
    }
    let secs = days * 86_400 + h as i64 * 3600 + mi as i64 * 60 + sec as i64 - offset_secs;
    Some(secs * 1_000_000 + micros as i64)
}

/// Now, in microseconds since the epoch.
pub fn now() -> Ts {
    rafthub_raft::node::now_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_isoformat() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_714_564_800_123_456), "2024-05-01T12:00:00.123456Z");
        assert_eq!(iso(1_714_564_800_000_000), "2024-05-01T12:00:00Z");
        assert_eq!(iso(951_782_400_000_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parses_what_dateutil_accepts_for_iso() {
        let t = 1_714_564_800_123_456;
        for s in [
            "2024-05-01T12:00:00.123456Z",
            "2024-05-01T12:00:00.123456",
            "2024-05-01T12:00:00.123456+00:00",
            "2024-05-01T14:00:00.123456+02:00",
            "2024-05-01 12:00:00.123456",
            "2024-05-01T10:00:00.123456-0200",
        ] {
            assert_eq!(parse(s), Some(t), "{s}");
        }
        assert_eq!(parse("2024-05-01"), Some(1_714_521_600_000_000));
        for bad in [
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-05-01T25:00:00Z",
            "2024-5-1",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
