//! The anomaly report of one container: mismatches per epoch as an SVG chart, with the threshold
//! line, anomalous epochs in red and the events marked where they happened. Pure: records and
//! events in, SVG text out.

use std::fmt::Write;

use super::epoch_log::EpochRecord;
use super::events::Event;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 380.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 64.0;
const BOTTOM: f64 = 50.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Milliseconds since the Unix epoch of an event's RFC 3339 time.
fn event_ms(event: &Event) -> Option<u64> {
    let t = humantime::parse_rfc3339(&event.time).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// Longest label of an event on the chart, in characters; the tooltip has the whole event.
const LABEL_CHARS: usize = 60;

/// An event's label: its kind, its epoch, who did it and what was new (the first unknown bag, most
/// frequent call first, or the unseen syscall). The process name is the container's choice: control
/// characters are dropped, which XML could not hold anyway.
fn label(event: &Event) -> String {
    let mut text = event.kind.name().to_string();
    if let Some(epoch) = event.epoch {
        text += &format!(" @{epoch}");
    }
    if let Some(comm) = &event.process {
        text.push(' ');
        text.extend(comm.chars().filter(|c| !c.is_control()));
    }
    if let Some(what) = event.unseen_bags.first().or(event.syscalls.first()) {
        text += &format!(": {what}");
    }
    if text.chars().count() > LABEL_CHARS {
        text = text.chars().take(LABEL_CHARS - 1).collect::<String>() + "…";
    }
    text
}

/// What an epoch's threshold bounds: its unknown bags, or with the back-off scorer its surprise.
fn judged(e: &EpochRecord) -> f64 {
    e.surprise.unwrap_or(f64::from(e.mismatches))
}

/// Renders the chart. `title` names the container.
pub fn svg(title: &str, epochs: &[EpochRecord], events: &[Event]) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_max = epochs
        .iter()
        .map(|e| judged(e).max(e.threshold))
        .fold(1.0_f64, f64::max)
        * 1.1;
    let what = if epochs.iter().any(|e| e.surprise.is_some()) {
        "surprise (nats) per epoch"
    } else {
        "unknown bags per epoch"
    };
    let n = epochs.len().max(1) as f64;
    let x = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / n;
    let y = |v: f64| TOP + plot_h * (1.0 - v / y_max);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let anomalies = epochs.iter().filter(|e| e.anomalous).count();
    let short: String = title.chars().take(12).collect();
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="22" font-size="15"><title>{}</title>container {} — {} epochs, {} anomalous, {} events</text>"#,
        escape(title),
        escape(&short),
        epochs.len(),
        anomalies,
        events.len()
    );
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>"##
    );
    for k in 0..=4 {
        let v = y_max * f64::from(k) / 4.0;
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#555">{:.0}</text>"##,
            LEFT - 6.0,
            y(v) + 4.0,
            v
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">epoch</text>"##,
        LEFT + plot_w / 2.0,
        HEIGHT - 12.0
    );
    let _ = writeln!(
        s,
        r##"<text transform="translate(16 {}) rotate(-90)" text-anchor="middle" fill="#555">{what}</text>"##,
        TOP + plot_h / 2.0
    );
    if let (Some(first), Some(last)) = (epochs.first(), epochs.last()) {
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="{}" fill="#555">{}</text><text x="{}" y="{}" text-anchor="end" fill="#555">{}</text>"##,
            TOP + plot_h + 16.0,
            first.epoch,
            LEFT + plot_w,
            TOP + plot_h + 16.0,
            last.epoch
        );
    }

    // Threshold: a step line, since a ratio threshold follows each epoch's window count.
    let mut path = String::new();
    for (i, e) in epochs.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.1},{:.1} ",
            if i == 0 { "M" } else { "L" },
            x(i),
            y(e.threshold)
        );
    }
    if !path.is_empty() {
        let _ = writeln!(
            s,
            r##"<path d="{path}" fill="none" stroke="#e67e22" stroke-dasharray="6 4"/>"##
        );
    }

    let mut line = String::new();
    for (i, e) in epochs.iter().enumerate() {
        let _ = write!(
            line,
            "{}{:.1},{:.1} ",
            if i == 0 { "M" } else { "L" },
            x(i),
            y(judged(e))
        );
    }
    if !line.is_empty() {
        let _ = writeln!(
            s,
            r##"<path d="{line}" fill="none" stroke="#2c7fb8" stroke-width="1.5"/>"##
        );
    }
    for (i, e) in epochs.iter().enumerate().filter(|(_, e)| e.anomalous) {
        let _ = writeln!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#d7301f"><title>epoch {}: {} {} (threshold {:.1})</title></circle>"##,
            x(i),
            y(judged(e)),
            e.epoch,
            judged(e),
            if e.surprise.is_some() {
                "nats of surprise"
            } else {
                "unknown bags"
            },
            e.threshold
        );
    }

    // Events: a vertical mark at the first epoch that ended at or after the event, a short label
    // (staggered over four rows so neighbours stay readable), the whole event as a tooltip.
    for (k, event) in events.iter().enumerate() {
        let Some(ms) = event_ms(event) else { continue };
        let i = epochs
            .iter()
            .position(|e| e.at_ms >= ms)
            .unwrap_or(epochs.len().saturating_sub(1));
        let short = label(event);
        let full = serde_json::to_string(event).unwrap_or_default();
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{TOP}" y2="{1}" stroke="#d7301f" stroke-width="1"><title>{2}</title></line><text x="{3:.1}" y="{4}" fill="#d7301f" font-size="10"><title>{2}</title>{5}</text>"##,
            x(i),
            TOP + plot_h,
            escape(&full),
            x(i) + 3.0,
            TOP + 12.0 + 12.0 * (k % 4) as f64,
            escape(&short)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="44"><tspan fill="#2c7fb8">— {what}</tspan>   <tspan fill="#e67e22">- - threshold</tspan>   <tspan fill="#d7301f">● anomalous epoch   | event</tspan></text>"##
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MonitorKind;
    use crate::record::events::EventKind;

    fn record(epoch: u64, mismatches: u32, anomalous: bool) -> EpochRecord {
        EpochRecord {
            epoch,
            mismatches,
            windows: 100,
            threshold: 5.0,
            surprise: None,
            anomalous,
            at_ms: 1_000 * epoch,
        }
    }

    #[test]
    fn marks_anomalies_threshold_and_events() {
        let epochs = [
            record(0, 1, false),
            record(1, 2, false),
            record(2, 30, true),
        ];
        let mut event = Event::now(
            "c<1>",
            "p",
            crate::mode::Mode::Detect,
            MonitorKind::SeccompNotify,
            EventKind::Anomaly,
        );
        event.time = "1970-01-01T00:00:01.500Z".into();
        event.epoch = Some(2);
        event.process = Some("nc\u{1b}[2J".into());
        event.unseen_bags = vec!["socket bind listen".into()];
        let svg = svg("c<1>", &epochs, &[event]);
        assert!(
            svg.contains(">anomaly @2 nc[2J: socket bind listen</text>"),
            "{svg}"
        );
        assert!(!svg.contains('\u{1b}'), "control characters dropped");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 1, "one anomalous epoch");
        assert!(svg.contains("stroke-dasharray"), "threshold line");
        assert!(svg.contains("c&lt;1&gt;"), "title escaped");
        assert!(svg.contains("3 epochs, 1 anomalous, 1 events"));
        assert!(svg.contains("<line"), "event marked");
    }

    #[test]
    fn a_backoff_epoch_is_charted_by_its_surprise() {
        let mut epoch = record(0, 1, true);
        epoch.surprise = Some(42.5);
        let svg = svg("c", &[epoch], &[]);
        assert!(
            svg.contains("epoch 0: 42.5 nats of surprise (threshold 5.0)"),
            "{svg}"
        );
        assert!(svg.contains("surprise (nats) per epoch"));
    }

    #[test]
    fn empty_report_is_still_an_svg() {
        let svg = svg("none", &[], &[]);
        assert!(svg.contains("0 epochs"));
    }
}
