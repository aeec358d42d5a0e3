//! Threshold alerts from property min/max, with hysteresis and escalation.
//!
//! For each number property with a min and/or max:
//! - a reading above max raises an `ABOVE_MAX` alert, below min a
//!   `BELOW_MIN` one: `warning`, or `critical` when beyond the critical limit;
//! - the critical limit is the bound moved outward by
//!   `TwinOptions::critical_margin` × span, unless `critical_bands` gives it;
//!   span is max − min when both bounds exist and differ, else |bound|, else 1;
//! - one alert per property and condition stays active while readings are
//!   outside; it escalates to critical in place and never de-escalates;
//! - it clears only once a reading is back inside by
//!   `TwinOptions::hysteresis` × span, so jitter on the edge raises one alert;
//! - an alert cleared by hand latches its condition: no new alert until a
//!   reading has come back inside by the same margin.

use std::collections::{HashMap, VecDeque};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{DeviceConfig, PropertyType, TwinOptions};
use crate::error::TwinError;
use crate::{ids, limits, Millis};

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Outside the normal range.
    Warning,
    /// Far outside the normal range.
    Critical,
}

/// What condition raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum AlertCondition {
    /// The value rose above the property's max.
    AboveMax,
    /// The value fell below the property's min.
    BelowMin,
    /// A desired value was not reached within `TwinOptions::divergence_timeout`.
    DesiredNotReached,
    /// A rule of a [`crate::rules::RuleEngine`] raised it.
    Rule,
    /// An anomaly detector saw a spike (an outlier against the recent
    /// baseline).
    Spike,
    /// An anomaly detector saw a stuck sensor.
    Stuck,
    /// An anomaly detector saw a change faster than usual.
    RapidChange,
    /// An anomaly detector saw the value drift from its long baseline.
    Drift,
}

/// Whether an alert's condition still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The condition holds.
    Active,
    /// The value returned inside the range, or a user cleared the alert.
    Cleared,
}

/// An alert (the reference's `Alert`, plus what raised it and its status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Unique alert id (UUID v4).
    pub id: String,
    /// Source device.
    pub device_id: String,
    /// The property whose value raised it.
    pub property: String,
    /// What raised it.
    pub condition: AlertCondition,
    /// How serious it is; rises while active, never falls.
    pub severity: Severity,
    /// Human-readable description.
    pub message: String,
    /// The value that raised or last escalated it.
    pub value: f64,
    /// The bound that was crossed.
    pub threshold: f64,
    /// When it was raised.
    pub timestamp: Millis,
    /// Whether a user acknowledged it.
    pub acknowledged: bool,
    /// Whether its condition still holds.
    pub status: AlertStatus,
    /// When it was cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<Millis>,
}

/// One condition of one property: its active alert, or the latch left by a
/// manual clear.
#[derive(Debug, Clone, Default)]
struct Watch {
    active: Option<String>,
    latched: bool,
}

#[derive(Debug, Clone)]
struct PropertyLimits {
    min: Option<f64>,
    max: Option<f64>,
    critical_below: Option<f64>,
    critical_above: Option<f64>,
    clear_margin: f64,
    unit: String,
    above: Watch,
    below: Watch,
}

/// The threshold alerts of one twin.
#[derive(Debug, Clone)]
pub struct ThresholdAlerts {
    device_id: String,
    limits: HashMap<String, PropertyLimits>,
    active: IndexMap<String, Alert>,
    cleared: VecDeque<Alert>,
    max_cleared: usize,
}

impl ThresholdAlerts {
    /// Limits for every number property of `config` that has min or max.
    pub fn new(device_id: &str, config: &DeviceConfig, options: &TwinOptions) -> Self {
        let limits = config
            .properties
            .iter()
            .filter(|p| p.kind == PropertyType::Number && (p.min.is_some() || p.max.is_some()))
            .map(|p| {
                let span = match (p.min, p.max) {
                    (Some(lo), Some(hi)) if hi > lo => hi - lo,
                    (_, Some(b)) | (Some(b), None) if b != 0.0 => b.abs(),
                    _ => 1.0,
                };
                let band = options
                    .critical_bands
                    .get(&p.name)
                    .copied()
                    .unwrap_or_default();
                let margin = options.critical_margin * span;
                let limits = PropertyLimits {
                    min: p.min,
                    max: p.max,
                    critical_below: p.min.map(|m| band.below.unwrap_or(m - margin)),
                    critical_above: p.max.map(|m| band.above.unwrap_or(m + margin)),
                    clear_margin: options.hysteresis * span,
                    unit: p.unit.as_ref().map(|u| format!(" {u}")).unwrap_or_default(),
                    above: Watch::default(),
                    below: Watch::default(),
                };
                (p.name.clone(), limits)
            })
            .collect();
        Self {
            device_id: device_id.to_string(),
            limits,
            active: IndexMap::new(),
            cleared: VecDeque::new(),
            max_cleared: options.max_finished,
        }
    }

    /// Evaluates one reading, pushing to `out` every alert it raised,
    /// escalated or cleared. Non-numbers and properties without limits do
    /// nothing.
    pub fn evaluate(&mut self, property: &str, value: &Value, now: Millis, out: &mut Vec<Alert>) {
        let Some(v) = value.as_f64().filter(|v| v.is_finite()) else {
            return;
        };
        let Some(limits) = self.limits.get_mut(property) else {
            return;
        };
        for condition in [AlertCondition::AboveMax, AlertCondition::BelowMin] {
            let (bound, critical, watch) = match condition {
                AlertCondition::AboveMax => (limits.max, limits.critical_above, &mut limits.above),
                AlertCondition::BelowMin => (limits.min, limits.critical_below, &mut limits.below),
                _ => continue,
            };
            let Some(bound) = bound else { continue };
            let (outside, beyond_critical, back_inside) = match condition {
                AlertCondition::AboveMax => (
                    v > bound,
                    critical.is_some_and(|c| v > c),
                    v <= bound - limits.clear_margin,
                ),
                AlertCondition::BelowMin => (
                    v < bound,
                    critical.is_some_and(|c| v < c),
                    v >= bound + limits.clear_margin,
                ),
                _ => continue,
            };
            let severity = if beyond_critical {
                Severity::Critical
            } else {
                Severity::Warning
            };
            if let Some(id) = watch.active.clone() {
                if back_inside {
                    watch.active = None;
                    if let Some(mut alert) = self.active.shift_remove(&id) {
                        alert.status = AlertStatus::Cleared;
                        alert.cleared_at = Some(now);
                        out.push(alert.clone());
                        push_bounded(&mut self.cleared, alert, self.max_cleared);
                    }
                } else if let Some(alert) = self.active.get_mut(&id) {
                    if severity > alert.severity {
                        alert.severity = severity;
                        alert.value = v;
                        alert.message =
                            message(property, v, condition, bound, severity, &limits.unit);
                        out.push(alert.clone());
                    }
                }
            } else if watch.latched {
                watch.latched = !back_inside;
            } else if outside {
                let alert = Alert {
                    id: ids::uuid_v4(),
                    device_id: self.device_id.clone(),
                    property: property.to_string(),
                    condition,
                    severity,
                    message: message(property, v, condition, bound, severity, &limits.unit),
                    value: v,
                    threshold: bound,
                    timestamp: now,
                    acknowledged: false,
                    status: AlertStatus::Active,
                    cleared_at: None,
                };
                watch.active = Some(alert.id.clone());
                out.push(alert.clone());
                self.active.insert(alert.id.clone(), alert);
            }
        }
    }

    /// Marks an alert, active or recently cleared, acknowledged.
    pub fn acknowledge(&mut self, alert_id: &str) -> Result<Alert, TwinError> {
        let alert = match self.active.get_mut(alert_id) {
            Some(alert) => alert,
            None => self
                .cleared
                .iter_mut()
                .find(|a| a.id == alert_id)
                .ok_or_else(|| unknown(alert_id))?,
        };
        alert.acknowledged = true;
        Ok(alert.clone())
    }

    /// Clears an active alert by hand and latches its condition. Clearing an
    /// alert that is already cleared returns it unchanged.
    pub fn clear(&mut self, alert_id: &str, now: Millis) -> Result<Alert, TwinError> {
        let Some(mut alert) = self.active.shift_remove(alert_id) else {
            return self
                .cleared
                .iter()
                .find(|a| a.id == alert_id)
                .cloned()
                .ok_or_else(|| unknown(alert_id));
        };
        if let Some(limits) = self.limits.get_mut(&alert.property) {
            let watch = match alert.condition {
                AlertCondition::AboveMax => Some(&mut limits.above),
                AlertCondition::BelowMin => Some(&mut limits.below),
                // Raised by divergence, rules or detectors, which track their own.
                _ => None,
            };
            if let Some(watch) = watch {
                watch.active = None;
                watch.latched = true;
            }
        }
        alert.status = AlertStatus::Cleared;
        alert.cleared_at = Some(now);
        push_bounded(&mut self.cleared, alert.clone(), self.max_cleared);
        Ok(alert)
    }

    /// Raises an alert no threshold watches (divergence, rules): it stays
    /// active until [`ThresholdAlerts::resolve`] or a manual clear.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn raise(
        &mut self,
        property: &str,
        condition: AlertCondition,
        severity: Severity,
        message: String,
        value: f64,
        threshold: f64,
        now: Millis,
    ) -> Alert {
        let alert = Alert {
            id: ids::uuid_v4(),
            device_id: self.device_id.clone(),
            property: property.to_string(),
            condition,
            severity,
            message,
            value,
            threshold,
            timestamp: now,
            acknowledged: false,
            status: AlertStatus::Active,
            cleared_at: None,
        };
        self.active.insert(alert.id.clone(), alert.clone());
        alert
    }

    /// Clears a raised alert whose condition no longer holds; `None` when it
    /// is no longer active (cleared by hand meanwhile).
    pub(crate) fn resolve(&mut self, alert_id: &str, now: Millis) -> Option<Alert> {
        let mut alert = self.active.shift_remove(alert_id)?;
        alert.status = AlertStatus::Cleared;
        alert.cleared_at = Some(now);
        push_bounded(&mut self.cleared, alert.clone(), self.max_cleared);
        Some(alert)
    }

    /// Whether an alert is active.
    pub fn is_active(&self, alert_id: &str) -> bool {
        self.active.contains_key(alert_id)
    }

    /// Active alerts, oldest first.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// Number of active alerts.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    /// An alert, active or recently cleared.
    pub fn get(&self, alert_id: &str) -> Option<&Alert> {
        self.active
            .get(alert_id)
            .or_else(|| self.cleared.iter().find(|a| a.id == alert_id))
    }

    /// Recently cleared alerts, oldest first (bounded by
    /// `TwinOptions::max_finished`).
    pub fn recent_cleared(&self) -> impl Iterator<Item = &Alert> {
        self.cleared.iter()
    }
}

fn push_bounded(list: &mut VecDeque<Alert>, alert: Alert, max: usize) {
    list.push_back(alert);
    while list.len() > max {
        list.pop_front();
    }
}

fn unknown(alert_id: &str) -> TwinError {
    TwinError::UnknownAlert {
        alert_id: limits::printable(alert_id),
    }
}

fn message(
    property: &str,
    value: f64,
    condition: AlertCondition,
    bound: f64,
    severity: Severity,
    unit: &str,
) -> String {
    let side = match condition {
        AlertCondition::AboveMax => "above the maximum",
        AlertCondition::BelowMin => "below the minimum",
        _ => "beyond",
    };
    let level = if severity == Severity::Critical {
        " (critical)"
    } else {
        ""
    };
    format!("{property} is {value}{unit}, {side} {bound}{unit}{level}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn engine(props: Value, options: TwinOptions) -> ThresholdAlerts {
        let config: DeviceConfig = serde_json::from_value(
            json!({"id": "d", "name": "D", "type": "t", "properties": props}),
        )
        .unwrap();
        ThresholdAlerts::new("d", &config, &options)
    }

    fn temp() -> ThresholdAlerts {
        engine(
            json!([{"name": "t", "type": "number", "unit": "°C", "min": 0, "max": 100},
                   {"name": "s", "type": "string"}]),
            TwinOptions::default(),
        )
    }

    fn feed(e: &mut ThresholdAlerts, values: &[f64]) -> Vec<Alert> {
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            e.evaluate("t", &json!(v), i as u64, &mut out);
        }
        out
    }

    #[test]
    fn warning_above_max_and_below_min() {
        let mut e = temp();
        let out = feed(&mut e, &[50.0, 101.0]);
        assert_eq!(out.len(), 1);
        let a = &out[0];
        assert_eq!(
            (a.condition, a.severity, a.status),
            (
                AlertCondition::AboveMax,
                Severity::Warning,
                AlertStatus::Active
            )
        );
        assert_eq!((a.value, a.threshold, a.timestamp), (101.0, 100.0, 1));
        assert_eq!(a.message, "t is 101 °C, above the maximum 100 °C");
        let mut e = temp();
        let out = feed(&mut e, &[-1.0]);
        assert_eq!(out[0].condition, AlertCondition::BelowMin);
        assert_eq!(out[0].severity, Severity::Warning);
    }

    #[test]
    fn critical_beyond_ten_percent_of_span() {
        let mut e = temp();
        assert_eq!(feed(&mut e, &[110.0])[0].severity, Severity::Warning);
        let mut e = temp();
        assert_eq!(feed(&mut e, &[110.5])[0].severity, Severity::Critical);
        let mut e = temp();
        assert_eq!(feed(&mut e, &[-10.5])[0].severity, Severity::Critical);
    }

    #[test]
    fn critical_band_overrides_the_margin() {
        let mut o = TwinOptions::default();
        o.critical_bands.insert(
            "t".into(),
            crate::config::CriticalBand {
                below: None,
                above: Some(102.0),
            },
        );
        let mut e = engine(
            json!([{"name": "t", "type": "number", "min": 0, "max": 100}]),
            o,
        );
        assert_eq!(feed(&mut e, &[103.0])[0].severity, Severity::Critical);
    }

    #[test]
    fn one_bound_uses_its_magnitude_as_span() {
        let mut e = engine(
            json!([{"name": "t", "type": "number", "max": 50}]),
            TwinOptions::default(),
        );
        assert_eq!(feed(&mut e, &[54.0])[0].severity, Severity::Warning);
        let mut e = engine(
            json!([{"name": "t", "type": "number", "max": 50}]),
            TwinOptions::default(),
        );
        assert_eq!(feed(&mut e, &[55.5])[0].severity, Severity::Critical);
        // A bound of 0 gives a span of 1: critical below -0.1.
        let mut e = engine(
            json!([{"name": "t", "type": "number", "min": 0}]),
            TwinOptions::default(),
        );
        assert_eq!(feed(&mut e, &[-0.05])[0].severity, Severity::Warning);
        let mut e = engine(
            json!([{"name": "t", "type": "number", "min": 0}]),
            TwinOptions::default(),
        );
        assert_eq!(feed(&mut e, &[-0.15])[0].severity, Severity::Critical);
    }

    #[test]
    fn escalates_in_place_and_never_falls() {
        let mut e = temp();
        let out = feed(&mut e, &[101.0, 120.0, 101.0, 130.0]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].id, out[1].id);
        assert_eq!(out[1].severity, Severity::Critical);
        assert!(out[1].message.ends_with("(critical)"));
        assert_eq!(e.active().next().unwrap().severity, Severity::Critical);
        assert_eq!(e.active_count(), 1);
    }

    #[test]
    fn jitter_raises_one_alert_and_hysteresis_sets_the_clear_point() {
        let mut e = temp();
        let out = feed(&mut e, &[100.01, 99.99, 100.01, 98.5, 100.5, 98.01]);
        assert_eq!(out.len(), 1, "{out:?}");
        // 2% of 100 = 2: clears at exactly 98.
        let out = feed(&mut e, &[98.0]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, AlertStatus::Cleared);
        assert_eq!(out[0].cleared_at, Some(0));
        assert_eq!(e.active_count(), 0);
        // Leaving again raises a new alert.
        let out = feed(&mut e, &[100.5]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, AlertStatus::Active);
    }

    #[test]
    fn a_jump_from_above_to_below_clears_and_raises() {
        let mut e = temp();
        let out = feed(&mut e, &[105.0, -5.0]);
        assert_eq!(out.len(), 3);
        assert_eq!(
            (out[1].condition, out[1].status),
            (AlertCondition::AboveMax, AlertStatus::Cleared)
        );
        assert_eq!(
            (out[2].condition, out[2].status),
            (AlertCondition::BelowMin, AlertStatus::Active)
        );
    }

    #[test]
    fn non_numbers_and_unlimited_properties_raise_nothing() {
        let mut e = temp();
        let mut out = Vec::new();
        for v in [
            json!("500"),
            json!(true),
            json!(null),
            json!({"v": 500}),
            json!([500]),
        ] {
            e.evaluate("t", &v, 0, &mut out);
        }
        e.evaluate("s", &json!(500), 0, &mut out);
        e.evaluate("missing", &json!(500), 0, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn acknowledge_known_and_unknown() {
        let mut e = temp();
        let id = feed(&mut e, &[101.0])[0].id.clone();
        assert!(e.acknowledge(&id).unwrap().acknowledged);
        assert!(e.get(&id).unwrap().acknowledged);
        assert_eq!(e.acknowledge("nope").unwrap_err().code(), "UNKNOWN_ALERT");
        feed(&mut e, &[50.0]);
        // Cleared alerts can still be acknowledged.
        assert!(e.acknowledge(&id).is_ok());
    }

    #[test]
    fn manual_clear_latches_until_the_value_returns() {
        let mut e = temp();
        let id = feed(&mut e, &[101.0])[0].id.clone();
        let cleared = e.clear(&id, 5).unwrap();
        assert_eq!(
            (cleared.status, cleared.cleared_at),
            (AlertStatus::Cleared, Some(5))
        );
        assert!(feed(&mut e, &[105.0, 99.0]).is_empty(), "latched");
        assert_eq!(
            e.clear(&id, 6).unwrap(),
            cleared,
            "clearing twice changes nothing"
        );
        assert!(
            feed(&mut e, &[97.0]).is_empty(),
            "unlatched, nothing raised"
        );
        assert_eq!(feed(&mut e, &[101.0]).len(), 1);
        assert_eq!(e.clear("nope", 7).unwrap_err().code(), "UNKNOWN_ALERT");
    }

    #[test]
    fn cleared_alerts_are_bounded() {
        let o = TwinOptions {
            max_finished: 3,
            ..TwinOptions::default()
        };
        let mut e = engine(
            json!([{"name": "t", "type": "number", "min": 0, "max": 100}]),
            o,
        );
        for _ in 0..5 {
            feed(&mut e, &[101.0, 50.0]);
        }
        assert_eq!(e.recent_cleared().count(), 3);
    }

    proptest! {
        #[test]
        fn at_most_one_active_alert_per_condition(values in prop::collection::vec(-50.0f64..150.0, 1..200)) {
            let mut e = temp();
            let mut out = Vec::new();
            for (i, v) in values.iter().enumerate() {
                e.evaluate("t", &json!(v), i as u64, &mut out);
                let above = e.active().filter(|a| a.condition == AlertCondition::AboveMax).count();
                let below = e.active().filter(|a| a.condition == AlertCondition::BelowMin).count();
                prop_assert!(above <= 1 && below <= 1);
                for a in e.active() {
                    prop_assert!(a.value > 100.0 || a.value < 0.0);
                    prop_assert_eq!(a.status, AlertStatus::Active);
                }
            }
        }
    }
}
