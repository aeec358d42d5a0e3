//! The HTTP REST shape: paths, bodies and status codes, for the `http`
//! connection type (the twin polls) and for servers that speak it (the
//! simulator).
//!
//! | method and path | body | answers |
//! |---|---|---|
//! | `GET /devices/{id}/state` | — | `200` [`StateBody`] with `ETag: "{version}"`; `304` when `If-None-Match` matches |
//! | `POST /devices/{id}/desired` | [`DesiredRequest`] | `202` [`DesiredAccepted`]; `422` when the device refuses a value |
//! | `POST /devices/{id}/commands` | [`CommandRequest`] | `202` [`CommandResponse`]: its status so far (`acknowledged`; `failed` at once for a command the device does not know; a repeated `commandId` is not run again) |
//! | `GET /devices/{id}/commands/{commandId}` | — | `200` [`CommandResponse`] (`acknowledged`, `completed` or `failed`) |
//! | `GET /devices/{id}/telemetry?since={ms}&limit={n}` | — | `200` [`TelemetryPage`]: records strictly after `since`, oldest first |
//!
//! Ids in paths are percent-encoded ([`Route::target`] does it,
//! [`Route::parse`] undoes it). Bodies are JSON (`Content-Type:
//! application/json`), camelCase, at most [`MAX_BODY_BYTES`]. Errors are
//! [`ErrorBody`] with `400` (malformed or invalid body or query), `404`
//! (unknown device, command or path), `405` (wrong method, with `Allow`),
//! `413` (body too large) or `422` (refused by the device).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use super::{device_id_problem, from_value, parse_json, reject_reserved_keys, WireError};
use crate::commands::CommandResponse;
use crate::limits;
use crate::value::TelemetryData;
use crate::Millis;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = super::MAX_MESSAGE_BYTES;
/// Most telemetry records in one [`TelemetryPage`]; also the default `limit`.
pub const MAX_TELEMETRY_PAGE: usize = 1000;
/// Path prefix of every route.
pub const DEVICES: &str = "/devices";

/// One route of the REST shape.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// `GET /devices/{id}/state`
    State {
        /// The device.
        device_id: String,
    },
    /// `POST /devices/{id}/desired`
    Desired {
        /// The device.
        device_id: String,
    },
    /// `POST /devices/{id}/commands`
    Commands {
        /// The device.
        device_id: String,
    },
    /// `GET /devices/{id}/commands/{commandId}`
    Command {
        /// The device.
        device_id: String,
        /// The command.
        command_id: String,
    },
    /// `GET /devices/{id}/telemetry?since={ms}&limit={n}`
    Telemetry {
        /// The device.
        device_id: String,
        /// Only records measured after this time (ms); all when `None`.
        since: Option<Millis>,
        /// At most this many records (at most [`MAX_TELEMETRY_PAGE`]).
        limit: Option<usize>,
    },
}

/// A request that matches no route.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RouteError {
    /// No such path.
    #[error("no route for `{path}`")]
    NotFound {
        /// The path, made printable.
        path: String,
    },
    /// The path exists with another method.
    #[error("method {method} not allowed here (allowed: {allowed})")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The method to use (for the `Allow` header).
        allowed: &'static str,
    },
    /// The query or a path segment is invalid.
    #[error("bad request: {reason}")]
    BadRequest {
        /// Why.
        reason: String,
    },
}

impl RouteError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::BadRequest { .. } => 400,
        }
    }

    /// A stable code for the [`ErrorBody`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NOT_FOUND",
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Self::BadRequest { .. } => "BAD_REQUEST",
        }
    }
}

impl Route {
    /// The HTTP method of the route.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Desired { .. } | Self::Commands { .. } => "POST",
            Self::State { .. } | Self::Command { .. } | Self::Telemetry { .. } => "GET",
        }
    }

    /// The device the route is about.
    pub fn device_id(&self) -> &str {
        match self {
            Self::State { device_id }
            | Self::Desired { device_id }
            | Self::Commands { device_id }
            | Self::Command { device_id, .. }
            | Self::Telemetry { device_id, .. } => device_id,
        }
    }

    /// The request target (path and query), ids percent-encoded.
    pub fn target(&self) -> String {
        let device = encode_segment(self.device_id());
        match self {
            Self::State { .. } => format!("{DEVICES}/{device}/state"),
            Self::Desired { .. } => format!("{DEVICES}/{device}/desired"),
            Self::Commands { .. } => format!("{DEVICES}/{device}/commands"),
            Self::Command { command_id, .. } => {
                format!("{DEVICES}/{device}/commands/{}", encode_segment(command_id))
            }
            Self::Telemetry { since, limit, .. } => {
                let mut target = format!("{DEVICES}/{device}/telemetry");
                let mut sep = '?';
                if let Some(since) = since {
                    target.push_str(&format!("{sep}since={since}"));
                    sep = '&';
                }
                if let Some(limit) = limit {
                    target.push_str(&format!("{sep}limit={limit}"));
                }
                target
            }
        }
    }

    /// Matches a method and request target (`/devices/a/telemetry?since=5`).
    pub fn parse(method: &str, target: &str) -> Result<Self, RouteError> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let not_found = || RouteError::NotFound {
            path: limits::printable(path),
        };
        let rest = path
            .strip_prefix(DEVICES)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(not_found)?;
        let segments: Vec<&str> = rest.split('/').collect();
        let (device, tail) = segments.split_first().ok_or_else(not_found)?;
        let device_id = decode_segment(device)?;
        if let Some(reason) = device_id_problem(&device_id) {
            return Err(RouteError::BadRequest {
                reason: format!("device id {reason}"),
            });
        }
        let (route, allowed) = match tail {
            ["state"] => (Self::State { device_id }, "GET"),
            ["desired"] => (Self::Desired { device_id }, "POST"),
            ["commands"] => (Self::Commands { device_id }, "POST"),
            ["commands", command] => {
                let command_id = decode_segment(command)?;
                if let Some(reason) = limits::name_problem(&command_id) {
                    return Err(RouteError::BadRequest {
                        reason: format!("command id {reason}"),
                    });
                }
                (
                    Self::Command {
                        device_id,
                        command_id,
                    },
                    "GET",
                )
            }
            ["telemetry"] => {
                let (since, limit) = parse_telemetry_query(query)?;
                (
                    Self::Telemetry {
                        device_id,
                        since,
                        limit,
                    },
                    "GET",
                )
            }
            _ => return Err(not_found()),
        };
        if method.eq_ignore_ascii_case(allowed)
            || (allowed == "GET" && method.eq_ignore_ascii_case("HEAD"))
        {
            Ok(route)
        } else {
            Err(RouteError::MethodNotAllowed {
                method: limits::printable(method),
                allowed,
            })
        }
    }
}

fn parse_telemetry_query(query: &str) -> Result<(Option<Millis>, Option<usize>), RouteError> {
    let mut since = None;
    let mut limit = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = |what: &str| RouteError::BadRequest {
            reason: format!(
                "`{what}` must be a non-negative integer, got `{}`",
                limits::printable(value)
            ),
        };
        match key {
            "since" => since = Some(value.parse::<Millis>().map_err(|_| bad("since"))?),
            "limit" => {
                let n = value.parse::<usize>().map_err(|_| bad("limit"))?;
                if n == 0 || n > MAX_TELEMETRY_PAGE {
                    return Err(RouteError::BadRequest {
                        reason: format!("`limit` must be between 1 and {MAX_TELEMETRY_PAGE}"),
                    });
                }
                limit = Some(n);
            }
            // Unknown parameters are ignored, like unknown JSON fields.
            _ => {}
        }
    }
    Ok((since, limit))
}

/// Percent-encodes a path segment: everything but RFC 3986 unreserved
/// characters.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Undoes [`encode_segment`] (any valid percent-encoding of UTF-8).
pub fn decode_segment(segment: &str) -> Result<String, RouteError> {
    let bad = || RouteError::BadRequest {
        reason: format!("bad percent-encoding in `{}`", limits::printable(segment)),
    };
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// The `ETag` of a state version (a quoted string, strong).
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// Whether an `If-None-Match` header matches the state version: `*`, or a
/// list holding its tag (weak `W/` tags compare equal, as RFC 9110 asks for
/// `If-None-Match`).
pub fn etag_matches(if_none_match: &str, version: u64) -> bool {
    let tag = etag(version);
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
    })
}

/// Body of `GET /devices/{id}/state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateBody {
    /// The device.
    pub device_id: String,
    /// Reported values.
    pub reported: BTreeMap<String, Value>,
    /// Desired values the device has received and not yet reached.
    #[serde(default)]
    pub desired: BTreeMap<String, Value>,
    /// State version (also the `ETag`).
    pub version: u64,
    /// When the state last changed (ms since the Unix epoch).
    pub timestamp: Millis,
}

/// Body of `POST /devices/{id}/desired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredRequest {
    /// Property name to desired value; `null` clears it.
    pub desired: BTreeMap<String, Value>,
    /// The twin's state version these values belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// Answer to `POST /devices/{id}/desired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredAccepted {
    /// The device's state version after accepting the values.
    pub version: u64,
}

/// Body of `POST /devices/{id}/commands`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandRequest {
    /// The command's id (the twin's UUID), so a retried POST is recognised.
    pub command_id: String,
    /// Command name.
    pub name: String,
    /// Command payload.
    #[serde(default)]
    pub payload: Value,
}

/// Answer to `GET /devices/{id}/telemetry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryPage {
    /// The device.
    pub device_id: String,
    /// Records strictly after `since`, oldest first.
    pub records: Vec<TelemetryData>,
    /// Pass as `since` to get the following records (the last record's
    /// timestamp, or the request's `since` when there was none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Millis>,
    /// Whether more records follow.
    pub more: bool,
}

/// Error body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error inside an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable code, e.g. `NOT_FOUND`, `INVALID_MESSAGE`, `OUT_OF_RANGE`.
    pub code: String,
    /// Human-readable reason.
    pub message: String,
}

impl ErrorBody {
    /// An error body.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

/// Reads a `POST …/desired` body, with the checks of [`super::decode`].
pub fn decode_desired_request(body: &[u8]) -> Result<DesiredRequest, WireError> {
    let value = checked_body(body, "desired")?;
    let request: DesiredRequest = from_value(value, "desired")?;
    for (key, value) in &request.desired {
        let invalid = |reason: String| WireError::Invalid {
            message_type: "desired",
            path: "desired".into(),
            reason,
        };
        limits::check_name(key).map_err(|e| invalid(e.to_string()))?;
        limits::check_value(format_args!("value of `{key}`"), value)
            .map_err(|e| invalid(e.to_string()))?;
    }
    Ok(request)
}

/// Reads a `POST …/commands` body, with the checks of [`super::decode`].
pub fn decode_command_request(body: &[u8]) -> Result<CommandRequest, WireError> {
    let value = checked_body(body, "command")?;
    let request: CommandRequest = from_value(value, "command")?;
    let invalid = |path: &str, reason: String| WireError::Invalid {
        message_type: "command",
        path: path.into(),
        reason,
    };
    limits::check_name(&request.name).map_err(|e| invalid("name", e.to_string()))?;
    if let Some(reason) = limits::name_problem(&request.command_id) {
        return Err(invalid("commandId", reason.into()));
    }
    limits::check_value(format_args!("payload"), &request.payload)
        .map_err(|e| invalid("payload", e.to_string()))?;
    Ok(request)
}

fn checked_body(body: &[u8], what: &str) -> Result<Value, WireError> {
    let value = parse_json(body, MAX_BODY_BYTES)?;
    if !value.is_object() {
        return Err(WireError::NotAnObject {
            found: crate::value::json_type_name(&value),
        });
    }
    reject_reserved_keys(&value, what)?;
    Ok(value)
}

/// The HTTP status for a refused body.
pub fn status_for(error: &WireError) -> u16 {
    match error {
        WireError::TooLarge { .. } => 413,
        _ => 400,
    }
}

/// The request's command answer as first returned by `POST …/commands`.
pub fn acknowledged(command_id: &str) -> CommandResponse {
    CommandResponse {
        command_id: command_id.to_owned(),
        status: crate::commands::CommandStatus::Acknowledged,
        result: None,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_parse_and_print() {
        let routes = [
            (
                "GET",
                "/devices/t-1/state",
                Route::State {
                    device_id: "t-1".into(),
                },
            ),
            (
                "POST",
                "/devices/t-1/desired",
                Route::Desired {
                    device_id: "t-1".into(),
                },
            ),
            (
                "POST",
                "/devices/t-1/commands",
                Route::Commands {
                    device_id: "t-1".into(),
                },
            ),
            (
                "GET",
                "/devices/t-1/commands/c-9",
                Route::Command {
                    device_id: "t-1".into(),
                    command_id: "c-9".into(),
                },
            ),
            (
                "GET",
                "/devices/t-1/telemetry?since=1700000000000&limit=5",
                Route::Telemetry {
                    device_id: "t-1".into(),
                    since: Some(1_700_000_000_000),
                    limit: Some(5),
                },
            ),
            (
                "GET",
                "/devices/t-1/telemetry",
                Route::Telemetry {
                    device_id: "t-1".into(),
                    since: None,
                    limit: None,
                },
            ),
        ];
        for (method, target, route) in routes {
            assert_eq!(Route::parse(method, target).unwrap(), route, "{target}");
            assert_eq!(route.target(), target);
            assert_eq!(route.method(), method);
        }
    }

    #[test]
    fn ids_are_percent_encoded() {
        let route = Route::State {
            device_id: "hall sensor ü".into(),
        };
        assert_eq!(route.target(), "/devices/hall%20sensor%20%C3%BC/state");
        assert_eq!(Route::parse("GET", &route.target()).unwrap(), route);
        // An encoded slash is still a slash in the id: refused like in config.
        let err = Route::parse("GET", "/devices/a%2Fb/state").unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(Route::parse("GET", "/devices/a%zz/state").is_err());
        assert!(Route::parse("GET", "/devices/%C3/state").is_err());
    }

    #[test]
    fn bad_routes_say_why() {
        assert_eq!(Route::parse("GET", "/nope").unwrap_err().status(), 404);
        assert_eq!(
            Route::parse("GET", "/devices/a/unknown")
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            Route::parse("GET", "/devices//state").unwrap_err().status(),
            400
        );
        let err = Route::parse("POST", "/devices/a/state").unwrap_err();
        assert_eq!(
            err,
            RouteError::MethodNotAllowed {
                method: "POST".into(),
                allowed: "GET"
            }
        );
        assert_eq!(err.status(), 405);
        let err = Route::parse("GET", "/devices/a/telemetry?since=yesterday").unwrap_err();
        assert!(err.to_string().contains("since"), "{err}");
        assert!(Route::parse("GET", "/devices/a/telemetry?limit=0").is_err());
        assert!(Route::parse("GET", "/devices/a/telemetry?limit=1001").is_err());
        assert!(Route::parse("GET", "/devices/__proto__/state").is_err());
    }

    #[test]
    fn etags_match_lists_weak_tags_and_star() {
        assert_eq!(etag(7), "\"7\"");
        assert!(etag_matches("\"7\"", 7));
        assert!(etag_matches("\"3\", W/\"7\"", 7));
        assert!(etag_matches("*", 7));
        assert!(!etag_matches("\"8\"", 7));
        assert!(!etag_matches("7", 7));
    }

    #[test]
    fn bodies_round_trip_and_bad_bodies_are_refused() {
        let body = br#"{"desired":{"setpoint":22,"mode":null},"version":3}"#;
        let request = decode_desired_request(body).unwrap();
        assert_eq!(request.desired["setpoint"], json!(22));
        assert_eq!(request.version, Some(3));
        let again = serde_json::to_vec(&request).unwrap();
        assert_eq!(decode_desired_request(&again).unwrap(), request);

        assert!(decode_desired_request(br#"{"desired":[1]}"#).is_err());
        let err = decode_desired_request(br#"{"desired":{"__proto__":{"a":1}}}"#).unwrap_err();
        assert!(matches!(err, WireError::ReservedKey { .. }), "{err:?}");
        let err = decode_desired_request(b"{").unwrap_err();
        assert_eq!(status_for(&err), 400);
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(status_for(&decode_desired_request(&big).unwrap_err()), 413);

        let command = decode_command_request(br#"{"commandId":"c-1","name":"reboot"}"#).unwrap();
        assert_eq!(command.payload, Value::Null);
        assert!(decode_command_request(br#"{"commandId":"c-1","name":""}"#).is_err());
        assert!(decode_command_request(br#"{"name":"reboot"}"#)
            .unwrap_err()
            .to_string()
            .contains("commandId"));
    }

    #[test]
    fn state_and_error_bodies_have_the_documented_shape() {
        let body = StateBody {
            device_id: "a".into(),
            reported: [("t".to_string(), json!(1))].into(),
            desired: BTreeMap::new(),
            version: 2,
            timestamp: 3,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"deviceId": "a", "reported": {"t": 1}, "desired": {}, "version": 2, "timestamp": 3})
        );
        assert_eq!(
            serde_json::to_value(ErrorBody::new("NOT_FOUND", "no device `x`")).unwrap(),
            json!({"error": {"code": "NOT_FOUND", "message": "no device `x`"}})
        );
        assert_eq!(
            serde_json::to_value(acknowledged("c")).unwrap(),
            json!({"commandId": "c", "status": "acknowledged"})
        );
    }
}
