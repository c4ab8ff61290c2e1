//! The Prometheus text exposition format (version 0.0.4, what node_exporter's textfile collector
//! and every scraper read): per family a `# HELP` and a `# TYPE` line, then its samples,
//! `name{label="value",...} value`. Label values are whatever a container chose (its profile's
//! name), so they are escaped as the format says: backslash, double quote and newline; the help
//! text escapes backslash and newline.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

struct Family {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    samples: Vec<(String, f64)>,
}

/// Families in the order they were first given samples; a family without samples is not written.
#[derive(Default)]
pub struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    /// Adds one sample of family `name` (a counter's name ends in `_total`).
    pub fn sample(
        &mut self,
        name: &'static str,
        kind: Kind,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let family = match self.families.iter().position(|f| f.name == name) {
            Some(i) => &mut self.families[i],
            None => {
                self.families.push(Family {
                    name,
                    kind,
                    help,
                    samples: Vec::new(),
                });
                self.families.last_mut().expect("just pushed")
            }
        };
        let mut text = String::new();
        for (i, (key, value)) in labels.iter().enumerate() {
            let _ = write!(
                text,
                "{}{key}=\"{}\"",
                if i == 0 { "" } else { "," },
                escape_label_value(value)
            );
        }
        family.samples.push((text, value));
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        for f in &self.families {
            let _ = writeln!(s, "# HELP {} {}", f.name, escape_help(f.help));
            let _ = writeln!(s, "# TYPE {} {}", f.name, f.kind.name());
            for (labels, value) in &f.samples {
                if labels.is_empty() {
                    let _ = writeln!(s, "{} {}", f.name, number(*value));
                } else {
                    let _ = writeln!(s, "{}{{{labels}}} {}", f.name, number(*value));
                }
            }
        }
        s
    }
}

fn escape_label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as the format spells it (Go's float syntax; `NaN`, `+Inf`, `-Inf`).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_once_samples_grouped_values_escaped() {
        let mut e = Exposition::default();
        e.sample(
            "a_total",
            Kind::Counter,
            "A \\ thing\nreally",
            &[("c", "x")],
            3.0,
        );
        e.sample("b", Kind::Gauge, "B", &[], 0.5);
        e.sample("a_total", Kind::Counter, "A", &[("c", "q\"\\\ny")], 4.0);
        assert_eq!(
            e.text(),
            "# HELP a_total A \\\\ thing\\nreally\n# TYPE a_total counter\na_total{c=\"x\"} 3\n\
             a_total{c=\"q\\\"\\\\\\ny\"} 4\n# HELP b B\n# TYPE b gauge\nb 0.5\n"
        );
    }

    #[test]
    fn special_values() {
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(1e21), "1000000000000000000000");
    }
}
