//! Logging to stderr in the JSON line format go-plugin reads, at the level Terraform asks
//! for through `TF_LOG_PROVIDER` (or `TF_LOG`).
//!
//! go-plugin parses each stderr line as JSON with `@level`, `@message`, `@timestamp`
//! (layout `2006-01-02T15:04:05.000000Z07:00`) and turns the other keys into fields.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// The most verbose level `TF_LOG_PROVIDER`/`TF_LOG` allows; `None` means logging is off.
pub fn level_from_env(get: impl Fn(&str) -> Option<String>) -> Option<Level> {
    let raw = get("TF_LOG_PROVIDER")
        .filter(|s| !s.is_empty())
        .or_else(|| get("TF_LOG").filter(|s| !s.is_empty()))?;
    match raw.to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" => Some(Level::ERROR),
        "OFF" => None,
        // Terraform treats any other value as TRACE.
        _ => Some(Level::TRACE),
    }
}

/// Installs the stderr JSON logger at the level the environment asks for.
pub fn init_from_env() {
    let Some(level) = level_from_env(|k| std::env::var(k).ok()) else {
        return;
    };
    let filter = tracing_subscriber::filter::LevelFilter::from_level(level);
    let _ = tracing_subscriber::registry()
        .with(GoPluginJson.with_filter(filter))
        .try_init();
}

/// Formats events as go-plugin JSON lines on stderr.
struct GoPluginJson;

impl<S: Subscriber> Layer<S> for GoPluginJson {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = format_line(event);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

fn format_line(event: &Event<'_>) -> String {
    let mut fields = JsonFields::default();
    event.record(&mut fields);
    let level = match *event.metadata().level() {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    };
    let mut out = String::with_capacity(128 + fields.rest.len());
    out.push_str("{\"@level\":\"");
    out.push_str(level);
    out.push_str("\",\"@message\":");
    out.push_str(&json_string(&fields.message));
    out.push_str(",\"@module\":\"keysmith\",\"@timestamp\":\"");
    out.push_str(&timestamp());
    out.push('"');
    out.push_str(&fields.rest);
    out.push_str("}\n");
    out
}

fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    now.format(&format).unwrap_or_default()
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[derive(Default)]
struct JsonFields {
    message: String,
    rest: String,
}

impl JsonFields {
    fn push(&mut self, field: &Field, json: String) {
        let _ = write!(self.rest, ",{}:{}", json_string(field.name()), json);
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.push(field, json_string(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.push(field, json_string(&format!("{value:?}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_log_provider_wins_over_tf_log() {
        let env = |k: &str| match k {
            "TF_LOG_PROVIDER" => Some("warn".to_string()),
            "TF_LOG" => Some("TRACE".to_string()),
            _ => None,
        };
        assert_eq!(level_from_env(env), Some(Level::WARN));
        assert_eq!(
            level_from_env(|k| (k == "TF_LOG").then(|| "json".into())),
            Some(Level::TRACE)
        );
        assert_eq!(level_from_env(|_| None), None);
        assert_eq!(level_from_env(|_| Some("off".into())), None);
    }

    #[test]
    fn timestamp_has_go_plugin_layout() {
        let ts = timestamp();
        // 2006-01-02T15:04:05.000000Z
        assert_eq!(ts.len(), 27, "{ts}");
        assert!(ts.ends_with('Z'));
        assert_eq!(&ts[19..20], ".");
    }
}
