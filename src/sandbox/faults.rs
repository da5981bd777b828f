//! Fault injection: `--faults SPEC` and `POST /_sandbox/faults`, and the middleware that
//! applies them to every vendor route (never to `/_sandbox/*`).
//!
//! SPEC is comma-separated `name=value` pairs, e.g.
//! `error_rate=0.1,throttle_rate=0.1,ambiguous_rate=0.05,latency_ms=20,methods=POST+DELETE`
//! (also accepted as a JSON object with the same names, `methods` there as that string or an
//! array of method names). Per request, after sleeping `latency_ms` (whatever its method), one
//! uniform draw picks at most one fault, for a request whose method is among `methods`
//! (default: every method; `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`):
//!
//! - `error_rate`: answer 503 with the vendor's error body, without running the handler;
//! - `throttle_rate`: answer 429 with `Retry-After: 1` and the vendor's error body;
//! - `ambiguous_rate` (writes only: every method but GET/HEAD/OPTIONS): run the handler, so
//!   the write is committed (and persisted), then, if it succeeded (2xx), drop the connection
//!   without sending a response; a refused write (4xx, a 401 challenge) is answered as usual.
//!   The drop is real: the connection's stream (`connections::DroppableStream`) starts failing
//!   every read and write, so hyper abandons the connection and closes the socket.
//!
//! The rates must each be in `[0, 1]` and sum to at most 1. `GET /_sandbox/faults` shows
//! `methods` as an array of names, or `null` for every method.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::connections::Connection;
use super::Shared;

/// The longest latency accepted, in milliseconds.
const MAX_LATENCY_MS: u64 = 60_000;

/// The faults to inject. The default injects none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Share of requests answered 503 with the vendor's error body.
    pub error_rate: f64,
    /// Share of requests answered 429 with `Retry-After: 1`.
    pub throttle_rate: f64,
    /// Share of write requests committed and then dropped without a response.
    pub ambiguous_rate: f64,
    /// Added latency per request, in milliseconds.
    pub latency_ms: u64,
    /// The methods the rates apply to (default: every method).
    pub methods: Methods,
}

/// The HTTP methods whose requests the fault rates apply to: a set of `GET`, `HEAD`, `POST`,
/// `PUT`, `PATCH`, `DELETE`, `OPTIONS`. The default (an empty set) means every method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Methods(u8);

/// The methods [`Methods`] can name, one bit each in this order.
const METHOD_NAMES: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl Methods {
    /// Parses `POST+DELETE` (names case-insensitive, at least one).
    pub fn parse(text: &str) -> Result<Methods, FaultsError> {
        let mut bits = 0u8;
        for name in text.split('+').map(str::trim) {
            bits |= Methods::bit(name)?;
        }
        Ok(Methods(bits))
    }

    fn bit(name: &str) -> Result<u8, FaultsError> {
        METHOD_NAMES
            .iter()
            .position(|m| m.eq_ignore_ascii_case(name))
            .map(|i| 1 << i)
            .ok_or_else(|| {
                FaultsError(format!(
                    "`methods`: `{name}` is not one of {}",
                    METHOD_NAMES.join(", ")
                ))
            })
    }

    /// True when faults apply to requests with `method`.
    pub fn contains(&self, method: &Method) -> bool {
        self.0 == 0
            || METHOD_NAMES
                .iter()
                .position(|m| *m == method.as_str())
                .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// The methods named, in a fixed order; empty for every method.
    pub fn names(&self) -> Vec<&'static str> {
        METHOD_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, m)| *m)
            .collect()
    }
}

impl Serialize for Methods {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 == 0 {
            serializer.serialize_none()
        } else {
            self.names().serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Methods {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Methods, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Text(String),
            Names(Vec<String>),
        }
        let parsed = match Option::<Given>::deserialize(deserializer)? {
            None => Ok(Methods::default()),
            Some(Given::Text(text)) => Methods::parse(&text),
            Some(Given::Names(names)) if names.is_empty() => {
                Err(FaultsError("`methods` names no method".to_owned()))
            }
            Some(Given::Names(names)) => names
                .iter()
                .try_fold(0u8, |bits, name| Ok(bits | Methods::bit(name)?))
                .map(Methods),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// A malformed fault specification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault specification: {0}")]
pub struct FaultsError(pub String);

/// Which fault the draw picked for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// 503 with the vendor's error body.
    Unavailable,
    /// 429 with `Retry-After: 1`.
    Throttled,
}

/// Builds a vendor's response for an injected fault.
pub(crate) type FaultResponder = fn(Fault) -> Response;

impl Faults {
    /// Parses `error_rate=0.1,throttle_rate=0.1,ambiguous_rate=0.05,latency_ms=20,methods=POST`
    /// (any subset, any order, spaces allowed), a JSON object with the same fields, or
    /// `""`/`none` for no faults.
    pub fn parse(spec: &str) -> Result<Faults, FaultsError> {
        let spec = spec.trim();
        let faults = if spec.starts_with('{') {
            serde_json::from_str::<Faults>(spec).map_err(|e| FaultsError(e.to_string()))?
        } else if spec.is_empty() || spec.eq_ignore_ascii_case("none") {
            Faults::default()
        } else {
            let mut faults = Faults::default();
            let mut seen = Vec::new();
            for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (name, value) = item
                    .split_once('=')
                    .ok_or_else(|| FaultsError(format!("`{item}` is not name=value")))?;
                let (name, value) = (name.trim(), value.trim());
                if seen.contains(&name) {
                    return Err(FaultsError(format!("`{name}` is given twice")));
                }
                seen.push(name);
                let rate = || {
                    value
                        .parse::<f64>()
                        .map_err(|_| FaultsError(format!("`{name}`: `{value}` is not a number")))
                };
                match name {
                    "error_rate" => faults.error_rate = rate()?,
                    "throttle_rate" => faults.throttle_rate = rate()?,
                    "ambiguous_rate" => faults.ambiguous_rate = rate()?,
                    "latency_ms" => {
                        faults.latency_ms = value.parse::<u64>().map_err(|_| {
                            FaultsError(format!(
                                "`latency_ms`: `{value}` is not a whole number of milliseconds"
                            ))
                        })?
                    }
                    "methods" => faults.methods = Methods::parse(value)?,
                    other => {
                        return Err(FaultsError(format!(
                            "unknown fault `{other}` (expected error_rate, throttle_rate, ambiguous_rate, latency_ms, methods)"
                        )))
                    }
                }
            }
            faults
        };
        faults.validate()?;
        Ok(faults)
    }

    fn validate(&self) -> Result<(), FaultsError> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("throttle_rate", self.throttle_rate),
            ("ambiguous_rate", self.ambiguous_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(FaultsError(format!("`{name}` must be between 0 and 1")));
            }
        }
        if self.error_rate + self.throttle_rate + self.ambiguous_rate > 1.0 + 1e-9 {
            return Err(FaultsError("the rates add up to more than 1".to_owned()));
        }
        if self.latency_ms > MAX_LATENCY_MS {
            return Err(FaultsError(format!(
                "`latency_ms` must be at most {MAX_LATENCY_MS}"
            )));
        }
        Ok(())
    }

    /// True when no fault is configured.
    pub fn is_none(&self) -> bool {
        *self == Faults::default()
    }
}

/// What the draw decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Pass,
    Inject(Fault),
    DropAfterCommit,
}

fn decide(faults: &Faults, method: &Method, draw: f64) -> Decision {
    let is_write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !faults.methods.contains(method) {
        Decision::Pass
    } else if draw < faults.error_rate {
        Decision::Inject(Fault::Unavailable)
    } else if draw < faults.error_rate + faults.throttle_rate {
        Decision::Inject(Fault::Throttled)
    } else if is_write && draw < faults.error_rate + faults.throttle_rate + faults.ambiguous_rate {
        Decision::DropAfterCommit
    } else {
        Decision::Pass
    }
}

/// The middleware: applies the current faults to a vendor request.
pub(crate) async fn apply(
    State((shared, responder)): State<(Arc<Shared>, FaultResponder)>,
    request: Request,
    next: Next,
) -> Response {
    let faults = shared.faults();
    if faults.is_none() {
        return next.run(request).await;
    }
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let draw: f64 = rand::thread_rng().gen();
    match decide(&faults, request.method(), draw) {
        Decision::Pass => next.run(request).await,
        Decision::Inject(fault) => responder(fault),
        Decision::DropAfterCommit => {
            let connection = request
                .extensions()
                .get::<ConnectInfo<Connection>>()
                .map(|c| c.0.clone());
            let response = next.run(request).await;
            // Only a write that took effect is ambiguous; a refusal (a 4xx, an authentication
            // challenge) is answered as usual.
            if response.status().is_success() {
                if let Some(connection) = connection {
                    tracing::debug!("fault: dropping the connection after the write committed");
                    connection.drop_now();
                }
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_form() {
        let f =
            Faults::parse("error_rate=0.1, throttle_rate=0.1,ambiguous_rate=0.05,latency_ms=20")
                .unwrap();
        assert_eq!(
            f,
            Faults {
                error_rate: 0.1,
                throttle_rate: 0.1,
                ambiguous_rate: 0.05,
                latency_ms: 20,
                methods: Methods::default(),
            }
        );
        assert_eq!(Faults::parse("latency_ms=5").unwrap().latency_ms, 5);
        assert!(Faults::parse("").unwrap().is_none());
        assert!(Faults::parse("none").unwrap().is_none());
    }

    #[test]
    fn parses_the_json_form() {
        let f = Faults::parse(r#"{"throttle_rate": 0.5}"#).unwrap();
        assert_eq!(f.throttle_rate, 0.5);
        assert_eq!(f.error_rate, 0.0);
        assert!(Faults::parse(r#"{"bogus": 1}"#).is_err());
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "error_rate",
            "error_rate=x",
            "error_rate=1.5",
            "error_rate=-0.1",
            "error_rate=0.6,throttle_rate=0.6",
            "latency_ms=-1",
            "latency_ms=0.5",
            "latency_ms=999999",
            "bogus=1",
            "error_rate=0.1,error_rate=0.2",
            "error_rate=NaN",
        ] {
            assert!(Faults::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn one_draw_picks_at_most_one_fault() {
        let f = Faults {
            error_rate: 0.2,
            throttle_rate: 0.3,
            ambiguous_rate: 0.1,
            ..Faults::default()
        };
        let (get, post) = (&Method::GET, &Method::POST);
        assert_eq!(decide(&f, post, 0.1), Decision::Inject(Fault::Unavailable));
        assert_eq!(decide(&f, get, 0.1), Decision::Inject(Fault::Unavailable));
        assert_eq!(decide(&f, post, 0.4), Decision::Inject(Fault::Throttled));
        assert_eq!(decide(&f, post, 0.55), Decision::DropAfterCommit);
        assert_eq!(decide(&f, get, 0.55), Decision::Pass);
        assert_eq!(decide(&f, post, 0.7), Decision::Pass);
        assert_eq!(decide(&Faults::default(), post, 0.0), Decision::Pass);
    }

    #[test]
    fn methods_aim_the_rates() {
        let f = Faults::parse("error_rate=1,methods=POST+DELETE").unwrap();
        assert_eq!(f.methods.names(), ["POST", "DELETE"]);
        assert_eq!(
            decide(&f, &Method::POST, 0.5),
            Decision::Inject(Fault::Unavailable)
        );
        assert_eq!(
            decide(&f, &Method::DELETE, 0.5),
            Decision::Inject(Fault::Unavailable)
        );
        assert_eq!(decide(&f, &Method::GET, 0.5), Decision::Pass);
        assert_eq!(decide(&f, &Method::PATCH, 0.5), Decision::Pass);
        // Ambiguous drops stay for writes only, even when GET is named.
        let f = Faults::parse("ambiguous_rate=1,methods=GET+patch").unwrap();
        assert_eq!(f.methods.names(), ["GET", "PATCH"]);
        assert_eq!(decide(&f, &Method::GET, 0.5), Decision::Pass);
        assert_eq!(decide(&f, &Method::PATCH, 0.5), Decision::DropAfterCommit);
        assert_eq!(decide(&f, &Method::POST, 0.5), Decision::Pass);
        // The JSON form: the same string, an array, or null for every method.
        for json in [
            r#"{"error_rate": 1, "methods": "POST+DELETE"}"#,
            r#"{"error_rate": 1, "methods": ["DELETE", "post"]}"#,
        ] {
            assert_eq!(
                Faults::parse(json).unwrap(),
                Faults::parse("error_rate=1,methods=POST+DELETE").unwrap(),
                "{json}"
            );
        }
        let every = Faults::parse(r#"{"error_rate": 1, "methods": null}"#).unwrap();
        assert_eq!(every.methods, Methods::default());
        assert!(every.methods.contains(&Method::PUT));
        // Shown as an array, or null for every method.
        let shown = serde_json::to_value(Faults::parse("methods=DELETE+POST").unwrap()).unwrap();
        assert_eq!(shown["methods"], serde_json::json!(["POST", "DELETE"]));
        let shown = serde_json::to_value(Faults::default()).unwrap();
        assert!(shown["methods"].is_null());
        for bad in [
            "methods=",
            "methods=FETCH",
            "methods=POST+",
            "methods=POST,methods=GET",
            r#"{"methods": []}"#,
            r#"{"methods": "TRACE"}"#,
            r#"{"methods": 3}"#,
        ] {
            assert!(Faults::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
