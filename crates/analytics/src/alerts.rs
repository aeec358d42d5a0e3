//! Detections as twin alerts: one active alert per property and anomaly
//! while the [`AnomalyDetector`] holds that anomaly latched, resolved when
//! the latch lets go. Both bindings (the npm `AnomalyDetector` and the
//! Leptos `use_anomalies` hook) run their detections through
//! [`DetectionAlerts`], so the two raise and resolve the same alerts.
//!
//! Pure like the rest of the crate: the twin is passed in as
//! `&mut twinkit_core::DigitalTwin` and the time as `now`.

use std::collections::HashMap;

use twinkit_core::{Alert, AlertCondition, DigitalTwin, Millis};

use crate::detect::{ActiveDetections, AnomalyDetector, AnomalyKind, Detection};

/// The alert condition standing for an anomaly.
pub fn alert_condition(kind: AnomalyKind) -> AlertCondition {
    match kind {
        AnomalyKind::Spike => AlertCondition::Spike,
        AnomalyKind::Stuck => AlertCondition::Stuck,
        AnomalyKind::RapidChange => AlertCondition::RapidChange,
        AnomalyKind::Drift => AlertCondition::Drift,
    }
}

fn latched(active: &ActiveDetections, kind: AnomalyKind) -> bool {
    match kind {
        AnomalyKind::Spike => active.spike,
        AnomalyKind::Stuck => active.stuck,
        AnomalyKind::RapidChange => active.rapid_change,
        AnomalyKind::Drift => active.drift,
    }
}

/// What one [`DetectionAlerts::sync`] changed on the twin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertChanges {
    /// Alerts raised for new detections.
    pub raised: Vec<Alert>,
    /// Alerts resolved because their latch let go (alerts already cleared
    /// by hand are not listed).
    pub resolved: Vec<Alert>,
}

/// The twin alerts a detector's detections stand for, by property and
/// anomaly.
#[derive(Debug, Clone, Default)]
pub struct DetectionAlerts {
    alerts: HashMap<(String, AnomalyKind), String>,
}

impl DetectionAlerts {
    /// No alerts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Brings the twin's alerts in line with the detector after it observed
    /// readings that produced `found`: first resolves the alert of every
    /// (property, anomaly) the detector no longer holds latched (after a
    /// reset or a new configuration too), then raises one alert per new
    /// detection whose (property, anomaly) has none. An alert a person
    /// cleared stays cleared; the pair gets a new alert only after its latch
    /// let go and engaged again.
    pub fn sync(
        &mut self,
        detector: &AnomalyDetector,
        found: &[Detection],
        twin: &mut DigitalTwin,
        now: Millis,
    ) -> AlertChanges {
        let mut changes = AlertChanges::default();
        self.alerts.retain(|(property, kind), id| {
            let held = detector
                .property(property)
                .is_some_and(|p| latched(&p.active(), *kind));
            if !held {
                changes.resolved.extend(twin.resolve_alert(id, now));
            }
            held
        });
        for d in found {
            let key = (d.property.clone(), d.kind);
            if self.alerts.contains_key(&key) {
                continue;
            }
            // The bound crossed: the side of the expected range the value
            // left by.
            let threshold = match &d.expected_range {
                Some(range) if d.value > range.max => range.max,
                Some(range) => range.min,
                None => 0.0,
            };
            let alert = twin.raise_alert(
                &d.property,
                alert_condition(d.kind),
                d.severity,
                d.message.clone(),
                d.value,
                threshold,
                now,
            );
            self.alerts.insert(key, alert.id.clone());
            changes.raised.push(alert);
        }
        changes
    }

    /// Resolves every alert still standing (when the detector goes away);
    /// returns those resolved.
    pub fn resolve_all(&mut self, twin: &mut DigitalTwin, now: Millis) -> Vec<Alert> {
        self.alerts
            .drain()
            .filter_map(|(_, id)| twin.resolve_alert(&id, now))
            .collect()
    }

    /// The alert id standing for `property`'s `kind` anomaly, if any.
    pub fn alert_id(&self, property: &str, kind: AnomalyKind) -> Option<&str> {
        self.alerts
            .get(&(property.to_owned(), kind))
            .map(String::as_str)
    }

    /// How many (property, anomaly) pairs have an alert.
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// Whether no pair has an alert.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use twinkit_core::{AlertStatus, DeviceConfig, TelemetryData, TelemetryValue};

    const MIN: Millis = 60_000;
    const T0: Millis = 1_700_000_000_000;

    fn twin() -> DigitalTwin {
        let config = DeviceConfig::from_value(json!({
            "id": "room-1", "name": "Room", "type": "room",
            "properties": [{ "name": "temperature", "type": "number", "telemetry": true }]
        }))
        .unwrap();
        DigitalTwin::new(config).unwrap()
    }

    fn record(i: u64, value: f64) -> TelemetryData {
        TelemetryData {
            device_id: "room-1".into(),
            timestamp: T0 + i * MIN,
            values: [("temperature".to_string(), TelemetryValue::Number(value))].into(),
        }
    }

    /// Feeds `values` from reading `start`; returns the changes of each step.
    fn feed(
        detector: &mut AnomalyDetector,
        alerts: &mut DetectionAlerts,
        twin: &mut DigitalTwin,
        start: u64,
        values: impl IntoIterator<Item = f64>,
    ) -> (u64, Vec<AlertChanges>) {
        let mut i = start;
        let mut all = Vec::new();
        for v in values {
            let mut found = Vec::new();
            let _ = detector.observe_record(&record(i, v), &mut found);
            all.push(alerts.sync(detector, &found, twin, T0 + i * MIN));
            i += 1;
        }
        (i, all)
    }

    fn wobble(n: usize, period: usize) -> impl Iterator<Item = f64> {
        (0..n).map(move |k| 20.0 + (k % period) as f64 * 0.3)
    }

    #[test]
    fn a_stuck_run_is_one_alert_resolved_when_the_latch_lets_go() {
        let mut detector = AnomalyDetector::new();
        let mut alerts = DetectionAlerts::new();
        let mut twin = twin();
        let (i, _) = feed(&mut detector, &mut alerts, &mut twin, 0, wobble(40, 5));
        assert!(alerts.is_empty());
        let (i, steps) = feed(
            &mut detector,
            &mut alerts,
            &mut twin,
            i,
            std::iter::repeat_n(22.5, 30),
        );
        // The jump to 22.5 is a spike first; its alert goes once the level
        // is the new median, while the stuck run holds its own.
        let raised: Vec<&Alert> = steps.iter().flat_map(|c| &c.raised).collect();
        let stuck: Vec<&&Alert> = raised
            .iter()
            .filter(|a| a.condition == AlertCondition::Stuck)
            .collect();
        assert_eq!(stuck.len(), 1, "{raised:?}");
        let id = stuck[0].id.clone();
        assert_eq!(
            alerts.alert_id("temperature", AnomalyKind::Stuck),
            Some(&*id)
        );
        assert_eq!(
            twin.active_alerts()
                .map(|a| a.condition)
                .collect::<Vec<_>>(),
            [AlertCondition::Stuck]
        );
        let (_, steps) = feed(&mut detector, &mut alerts, &mut twin, i, wobble(200, 7));
        let resolved: Vec<&Alert> = steps.iter().flat_map(|c| &c.resolved).collect();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].id, id);
        assert_eq!(resolved[0].status, AlertStatus::Cleared);
        assert!(alerts.is_empty());
        assert!(!twin
            .active_alerts()
            .any(|a| a.condition == AlertCondition::Stuck));
    }

    #[test]
    fn a_spike_raises_with_the_bound_crossed_and_a_reset_resolves_it() {
        let mut detector = AnomalyDetector::new();
        let mut alerts = DetectionAlerts::new();
        let mut twin = twin();
        let (i, _) = feed(&mut detector, &mut alerts, &mut twin, 0, wobble(60, 5));
        let (_, steps) = feed(&mut detector, &mut alerts, &mut twin, i, [60.0]);
        let raised = &steps[0].raised;
        assert_eq!(raised.len(), 1, "{steps:?}");
        assert_eq!(raised[0].condition, AlertCondition::Spike);
        assert_eq!(raised[0].value, 60.0);
        assert!(raised[0].threshold > 20.0 && raised[0].threshold < 60.0);
        detector.reset();
        let changes = alerts.sync(&detector, &[], &mut twin, T0 + 100 * MIN);
        assert_eq!(changes.resolved.len(), 1);
        assert_eq!(twin.active_alerts().count(), 0);
        assert!(alerts.is_empty());
    }

    #[test]
    fn a_flat_noisy_series_raises_nothing_and_resolve_all_clears_what_stands() {
        let mut detector = AnomalyDetector::new();
        let mut alerts = DetectionAlerts::new();
        let mut twin = twin();
        let (i, steps) = feed(&mut detector, &mut alerts, &mut twin, 0, wobble(300, 7));
        assert!(steps.iter().all(|c| c.raised.is_empty()));
        assert_eq!(twin.active_alerts().count(), 0);
        feed(&mut detector, &mut alerts, &mut twin, i, [90.0]);
        assert_eq!(twin.active_alerts().count(), 1);
        // A person clears it: resolving later finds nothing to resolve.
        let id = alerts
            .alert_id("temperature", AnomalyKind::Spike)
            .unwrap()
            .to_owned();
        twin.clear_alert(&id, T0).unwrap();
        assert!(alerts.resolve_all(&mut twin, T0).is_empty());
        assert!(alerts.is_empty());
    }
}
