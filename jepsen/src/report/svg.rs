//! Minimal SVG plotting (no dependencies): scatter points and lines over time, linear or
//! log y axis, and shaded nemesis windows behind the data.

use std::fmt::Write;

pub struct Series {
    pub label: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
    /// Draw as a polyline instead of dots.
    pub line: bool,
}

pub struct Plot {
    pub title: String,
    pub y_label: String,
    pub x_max: f64,
    pub y_log: bool,
    /// (start s, end s, label) shaded behind the data.
    pub windows: Vec<(f64, f64, String)>,
    /// (start s, end s) in which the harness itself stalled, shaded grey.
    pub stalls: Vec<(f64, f64)>,
    pub series: Vec<Series>,
}

const W: f64 = 1000.0;
const H: f64 = 300.0;
const L: f64 = 60.0; // left margin
const R: f64 = 20.0;
const T: f64 = 30.0;
const B: f64 = 40.0;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" tick step for a span (1, 2 or 5 times a power of ten).
fn step(span: f64, ticks: f64) -> f64 {
    let raw = (span / ticks).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

impl Plot {
    fn y_range(&self) -> (f64, f64) {
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        if self.y_log {
            let (lo, hi) = ys
                .filter(|y| *y > 0.0)
                .fold((f64::MAX, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
            if hi == 0.0 {
                return (0.0, 1.0);
            }
            (
                lo.log10().floor().max(-2.0),
                hi.log10().ceil().max(lo.log10().floor() + 1.0),
            )
        } else {
            let hi = ys.fold(0.0f64, f64::max);
            (0.0, if hi <= 0.0 { 1.0 } else { hi * 1.1 })
        }
    }

    pub fn render(&self) -> String {
        let x_max = self.x_max.max(1.0);
        let (y0, y1) = self.y_range();
        let sx = |x: f64| L + (x / x_max) * (W - L - R);
        let sy = |y: f64| {
            let v = if self.y_log {
                y.max(10f64.powf(y0)).log10()
            } else {
                y
            };
            H - B - ((v - y0) / (y1 - y0)) * (H - T - B)
        };
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" font-family="sans-serif" font-size="11">"#
        );
        let _ = write!(
            s,
            r#"<text x="{L}" y="18" font-size="14" font-weight="bold">{}</text>"#,
            escape(&self.title)
        );
        for (a, b, label) in &self.windows {
            let (xa, xb) = (sx(a.max(0.0)), sx(b.min(x_max)));
            let _ = write!(
                s,
                r##"<rect x="{xa:.1}" y="{T}" width="{:.1}" height="{}" fill="#f4a6a6" fill-opacity="0.35"><title>{}</title></rect>"##,
                (xb - xa).max(1.0),
                H - T - B,
                escape(label)
            );
        }
        for (a, b) in &self.stalls {
            let (xa, xb) = (sx(a.max(0.0)), sx(b.min(x_max)));
            let _ = write!(
                s,
                r##"<rect x="{xa:.1}" y="{T}" width="{:.1}" height="{}" fill="#888" fill-opacity="0.4"><title>harness stall</title></rect>"##,
                (xb - xa).max(1.0),
                H - T - B
            );
        }
        // Axes and ticks.
        let _ = write!(
            s,
            r#"<line x1="{L}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#,
            H - B,
            W - R,
            H - B
        );
        let _ = write!(
            s,
            r#"<line x1="{L}" y1="{T}" x2="{L}" y2="{}" stroke="black"/>"#,
            H - B
        );
        let xs = step(x_max, 10.0);
        let mut x = 0.0;
        while x <= x_max + 1e-9 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{x}</text>"#,
                sx(x),
                H - B + 14.0
            );
            x += xs;
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">time (s)</text>"#,
            (L + W - R) / 2.0,
            H - 6.0
        );
        if self.y_log {
            for e in (y0 as i32)..=(y1 as i32) {
                let v = 10f64.powi(e);
                let _ = write!(
                    s,
                    r##"<line x1="{L}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v}</text>"##,
                    W - R,
                    L - 4.0,
                    sy(v) + 4.0,
                    y = sy(v)
                );
            }
        } else {
            let ys = step(y1, 5.0);
            let mut y = 0.0;
            while y <= y1 {
                let _ = write!(
                    s,
                    r##"<line x1="{L}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{y}</text>"##,
                    W - R,
                    L - 4.0,
                    sy(y) + 4.0,
                    yy = sy(y)
                );
                y += ys;
            }
        }
        let _ = write!(
            s,
            r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{}</text>"#,
            (T + H - B) / 2.0,
            (T + H - B) / 2.0,
            escape(&self.y_label)
        );
        for ser in &self.series {
            if ser.line {
                let pts: Vec<String> = ser
                    .points
                    .iter()
                    .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                    .collect();
                let _ = write!(
                    s,
                    r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
                    ser.color,
                    pts.join(" ")
                );
            } else {
                let _ = write!(s, r#"<g fill="{}" fill-opacity="0.6">"#, ser.color);
                for (x, y) in &ser.points {
                    let _ = write!(
                        s,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="1.6"/>"#,
                        sx(*x),
                        sy(*y)
                    );
                }
                s.push_str("</g>");
            }
        }
        // Legend.
        let mut lx = W - R - 10.0;
        for ser in self.series.iter().rev() {
            let width = 24.0 + 7.0 * ser.label.len() as f64;
            lx -= width;
            let _ = write!(
                s,
                r#"<rect x="{lx:.1}" y="10" width="10" height="10" fill="{}"/><text x="{:.1}" y="19">{}</text>"#,
                ser.color,
                lx + 13.0,
                escape(&ser.label)
            );
        }
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_points_lines_and_windows() {
        let p = Plot {
            title: "latency <ms>".into(),
            y_label: "ms".into(),
            x_max: 120.0,
            y_log: true,
            windows: vec![(10.0, 20.0, "kill".into())],
            stalls: vec![(30.0, 31.0)],
            series: vec![
                Series {
                    label: "ok".into(),
                    color: "green",
                    points: vec![(1.0, 2.0), (50.0, 900.0)],
                    line: false,
                },
                Series {
                    label: "rate".into(),
                    color: "blue",
                    points: vec![(0.0, 1.0), (1.0, 3.0)],
                    line: true,
                },
            ],
        };
        let svg = p.render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("latency &lt;ms&gt;"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("<polyline") && svg.contains("<title>kill</title>"));
        assert!(svg.contains("harness stall"));
        assert_eq!(step(120.0, 10.0), 20.0);
    }
}
