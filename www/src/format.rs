//! Text for values, times and durations.

use serde_json::Value;
use twinkit_core::Millis;

/// A reported or desired value with its unit: `21.4 °C`, `on`, `heat`.
pub fn value(value: Option<&Value>, unit: Option<&str>) -> String {
    let Some(value) = value else {
        return "—".into();
    };
    let text = match value {
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        Value::Bool(true) => "on".into(),
        Value::Bool(false) => "off".into(),
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    };
    match unit {
        Some(unit) if value.is_number() => format!("{text} {unit}"),
        _ => text,
    }
}

/// A number with as many decimals as its size deserves.
pub fn number(n: f64) -> String {
    let a = n.abs();
    if a >= 1000.0 || n.fract() == 0.0 {
        format!("{n:.0}")
    } else if a >= 100.0 {
        format!("{n:.1}")
    } else {
        format!("{n:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// How long ago `then` was: `just now`, `12 s ago`, `3 min ago`.
pub fn ago(now: Millis, then: Option<Millis>) -> String {
    let Some(then) = then else {
        return "never".into();
    };
    let secs = now.saturating_sub(then) / 1000;
    match secs {
        0..=1 => "just now".into(),
        2..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

/// Hours until a threshold: `now`, `3.2 h`, `4.5 d`, or `never` when the
/// trend moves away.
pub fn hours(h: Option<f64>) -> String {
    match h {
        None => "never".into(),
        Some(h) if h <= 0.0 => "now".into(),
        Some(h) if h < 1.0 => format!("{:.0} min", (h * 60.0).max(1.0)),
        Some(h) if h < 48.0 => format!("{h:.1} h"),
        Some(h) if h < 24.0 * 365.0 => format!("{:.1} d", h / 24.0),
        Some(_) => "> 1 year".into(),
    }
}

/// Clock time of a page-clock timestamp, `14:03:27` (local time).
pub fn clock(t: Millis) -> String {
    let date = js_sys::Date::new(&(t as f64).into());
    format!(
        "{:02}:{:02}:{:02}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}

/// The first block of a UUID, enough to tell commands apart on screen.
pub fn short_id(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}
