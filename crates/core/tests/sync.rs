//! Sync: optimistic concurrency on desired values, divergence, sync history.
#![allow(clippy::unwrap_used)]

mod common;

use common::{local_twin, of_type, record, thermostat_config, values};
use proptest::prelude::*;
use serde_json::{json, Value};
use twinkit_core::{
    AlertCondition, AlertStatus, AuditOutcome, ConflictSide, ConflictStrategy, DigitalTwin,
    EventData, EventType, Inbound, MergeDecision, Outbound, SyncDirection, TwinError, TwinOptions,
};

fn twin_with_strategy(strategy: ConflictStrategy) -> DigitalTwin {
    let mut options = TwinOptions::default();
    options.conflict_strategy = strategy;
    let mut config = thermostat_config();
    config.connection_type = None;
    config.connection_config = None;
    DigitalTwin::with_options(config, options).unwrap()
}

fn conflict(err: TwinError) -> twinkit_core::Conflict {
    assert_eq!(err.code(), "CONFLICT");
    match err {
        TwinError::Conflict(c) => *c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

// ----- optimistic concurrency ----------------------------------------------

#[test]
fn two_writers_race_on_one_property_and_the_loser_is_told() {
    let mut twin = local_twin("d");
    twin.set_desired("setpoint", json!(60), 1).unwrap();
    // Two pages read the same state.
    let seen_by_a = twin.state().version();
    let seen_by_b = twin.state().version();
    let a = twin
        .set_desired_if("setpoint", json!(70), seen_by_a, 2)
        .unwrap();
    assert_eq!(a.value, json!(70));
    assert_eq!(a.overwritten, None);
    assert!(a.version > seen_by_a);
    let before = twin.state().clone();
    let lost = conflict(
        twin.set_desired_if("setpoint", json!(75), seen_by_b, 3)
            .unwrap_err(),
    );
    // The loser sees the winner's value and the current version; nothing changed.
    assert_eq!(lost.winner, json!(70));
    assert_eq!(lost.winner_side, ConflictSide::Desired);
    assert_eq!(lost.winner_version, a.version);
    assert_eq!(lost.current_version, twin.state().version());
    assert_eq!(lost.attempted, json!(75));
    assert_eq!(lost.base_version, seen_by_b);
    assert_eq!(lost.state, before);
    assert_eq!(twin.state(), &before);
    // Retrying on top of the winner succeeds.
    let b = twin
        .set_desired_if("setpoint", json!(75), lost.current_version, 4)
        .unwrap();
    assert_eq!(twin.state().desired()["setpoint"], json!(75));
    // A's next edit, based on its own write, is now stale.
    assert_eq!(
        conflict(
            twin.set_desired_if("setpoint", json!(71), a.version, 5)
                .unwrap_err()
        )
        .winner,
        json!(75)
    );
    // B's next edit, based on its own write, is not.
    twin.set_desired_if("setpoint", json!(76), b.version, 6)
        .unwrap();
}

#[test]
fn conflict_error_message_names_property_versions_and_winner() {
    let mut twin = local_twin("d");
    let v = twin.state().version();
    twin.set_desired("setpoint", json!(70), 1).unwrap();
    let err = twin
        .set_desired_if("setpoint", json!(75), v, 2)
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`setpoint`"), "{text}");
    assert!(text.contains("based on version 0"), "{text}");
    assert!(text.contains("(now 70)"), "{text}");
}

#[test]
fn only_the_edited_property_makes_an_edit_stale() {
    let mut twin = local_twin("d");
    let v = twin.state().version();
    twin.apply_reported(values(&[("temperature", json!(70))]), 1);
    twin.set_desired("mode", json!("heat"), 2).unwrap();
    // The setpoint itself was not touched: the edit applies.
    twin.set_desired_if("setpoint", json!(70), v, 3).unwrap();
    // Under reject, a device report of the setpoint does not make it stale.
    let v = twin.state().version();
    twin.apply_reported(values(&[("setpoint", json!(65))]), 4);
    twin.set_desired_if("setpoint", json!(72), v, 5).unwrap();
}

#[test]
fn a_version_the_twin_never_had_is_a_conflict() {
    let mut twin = local_twin("d");
    twin.set_desired("setpoint", json!(70), 1).unwrap();
    let c = conflict(
        twin.set_desired_if("setpoint", json!(75), 1_000, 2)
            .unwrap_err(),
    );
    assert_eq!(c.winner, json!(70));
    assert_eq!(twin.state().desired()["setpoint"], json!(70));
}

#[test]
fn invalid_values_are_refused_before_versions_are_looked_at() {
    let mut twin = local_twin("d");
    let err = twin
        .set_desired_if("setpoint", json!(1_000), 0, 1)
        .unwrap_err();
    assert_eq!(err.code(), "OUT_OF_RANGE");
    let err = twin
        .set_desired_if("temperature", json!(1), 0, 1)
        .unwrap_err();
    assert_eq!(err.code(), "NOT_WRITABLE");
}

#[test]
fn last_writer_wins_reports_what_it_overwrote() {
    let mut twin = twin_with_strategy(ConflictStrategy::LastWriterWins);
    let v = twin.state().version();
    twin.set_desired_if("setpoint", json!(70), v, 1).unwrap();
    let b = twin.set_desired_if("setpoint", json!(75), v, 2).unwrap();
    assert_eq!(b.overwritten, Some(json!(70)));
    assert_eq!(twin.state().desired()["setpoint"], json!(75));
    // A clear that lost is reported as null.
    let v = twin.state().version();
    twin.set_desired("setpoint", Value::Null, 3).unwrap();
    let c = twin.set_desired_if("setpoint", json!(60), v, 4).unwrap();
    assert_eq!(c.overwritten, Some(Value::Null));
    // A fresh edit overwrote nothing concurrent.
    let d = twin
        .set_desired_if("setpoint", json!(61), c.version, 5)
        .unwrap();
    assert_eq!(d.overwritten, None);
}

#[test]
fn device_wins_over_an_edit_based_on_an_older_version() {
    let mut twin = twin_with_strategy(ConflictStrategy::DeviceWins);
    let v = twin.state().version();
    // The thermostat's knob was turned: the device reports 68.
    twin.apply_reported(values(&[("setpoint", json!(68))]), 1);
    let c = conflict(
        twin.set_desired_if("setpoint", json!(72), v, 2)
            .unwrap_err(),
    );
    assert_eq!(c.winner_side, ConflictSide::Reported);
    assert_eq!(c.winner, json!(68));
    assert!(!twin.state().desired().contains_key("setpoint"));
    // Based on what the device reported, the edit applies.
    let w = twin
        .set_desired_if("setpoint", json!(72), c.current_version, 3)
        .unwrap();
    // Two edits racing each other: refused, as with reject.
    let c = conflict(
        twin.set_desired_if("setpoint", json!(73), v, 4)
            .unwrap_err(),
    );
    assert_eq!(c.winner_side, ConflictSide::Reported);
    twin.set_desired_if("setpoint", json!(73), w.version, 5)
        .unwrap();
    let stale = w.version;
    twin.set_desired("setpoint", json!(74), 6).unwrap();
    let c = conflict(
        twin.set_desired_if("setpoint", json!(75), stale, 7)
            .unwrap_err(),
    );
    assert_eq!(c.winner_side, ConflictSide::Desired);
    assert_eq!(c.winner, json!(74));
}

#[test]
fn custom_merge_decides_and_its_value_is_checked() {
    let mut twin = twin_with_strategy(ConflictStrategy::Custom);
    let v = twin.state().version();
    twin.set_desired("setpoint", json!(70), 1).unwrap();
    // Without a callback, a stale edit is refused.
    conflict(
        twin.set_desired_if("setpoint", json!(75), v, 2)
            .unwrap_err(),
    );
    // The warmer of the two wins; ties keep theirs.
    twin.set_merge(|input| {
        let ours = input.ours.as_f64().unwrap_or(f64::MIN);
        let theirs = input.theirs.and_then(Value::as_f64).unwrap_or(f64::MIN);
        if ours > theirs {
            MergeDecision::Write(json!(ours))
        } else if input.property == "setpoint" && ours == 0.0 {
            MergeDecision::Write(json!(1_000))
        } else {
            MergeDecision::KeepTheirs
        }
    });
    let w = twin.set_desired_if("setpoint", json!(75), v, 3).unwrap();
    assert!(w.merged);
    assert_eq!(w.overwritten, Some(json!(70)));
    assert_eq!(twin.state().desired()["setpoint"], json!(75.0));
    let c = conflict(
        twin.set_desired_if("setpoint", json!(60), v, 4)
            .unwrap_err(),
    );
    assert_eq!(c.winner, json!(75.0));
    // A merge result is checked like any desired value.
    let err = twin.set_desired_if("setpoint", json!(0), v, 5).unwrap_err();
    assert_eq!(err.code(), "OUT_OF_RANGE");
    assert_eq!(twin.state().desired()["setpoint"], json!(75.0));
}

#[test]
fn conflict_strategy_reads_from_json_in_camel_case() {
    let o = TwinOptions::from_value(
        json!({"conflictStrategy": "lastWriterWins", "divergenceTimeout": 60000}),
    )
    .unwrap();
    assert_eq!(o.conflict_strategy, ConflictStrategy::LastWriterWins);
    assert_eq!(o.divergence_timeout, Some(60_000));
    assert_eq!(
        TwinOptions::default().conflict_strategy,
        ConflictStrategy::Reject
    );
    for name in ["reject", "lastWriterWins", "deviceWins", "custom"] {
        TwinOptions::from_value(json!({ "conflictStrategy": name })).unwrap();
    }
    let err = TwinOptions::from_value(json!({"conflictStrategy": "firstWins"})).unwrap_err();
    assert!(err.to_string().contains("conflictStrategy"), "{err}");
}

/// One writer's step in a race: read the state, or write based on what it
/// last read.
#[derive(Debug, Clone)]
enum Step {
    Read(usize),
    Write(usize, u8),
    DeviceReport(u8),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (0..3usize).prop_map(Step::Read),
        (0..3usize, 55..=85u8).prop_map(|(w, v)| Step::Write(w, v)),
        (55..=85u8).prop_map(Step::DeviceReport),
    ];
    proptest::collection::vec(step, 1..40)
}

proptest! {
    /// Under every strategy, in any interleaving of three writers and the
    /// device, no accepted edit silently replaces a value its writer had
    /// not seen: either the value it replaced is the one the writer read,
    /// or the write says what it overwrote. Refused edits change nothing.
    #[test]
    fn no_lost_update_goes_unnoticed(
        steps in steps(),
        strategy in prop_oneof![
            Just(ConflictStrategy::Reject),
            Just(ConflictStrategy::LastWriterWins),
            Just(ConflictStrategy::DeviceWins),
        ],
    ) {
        let mut twin = twin_with_strategy(strategy);
        // What each writer read: the version and the setpoint desired then.
        let mut seen: Vec<(u64, Option<Value>)> = vec![(0, None); 3];
        for (t, step) in steps.into_iter().enumerate() {
            let now = t as u64 + 1;
            match step {
                Step::Read(w) => {
                    seen[w] = (
                        twin.state().version(),
                        twin.state().desired().get("setpoint").cloned(),
                    );
                }
                Step::DeviceReport(v) => {
                    twin.apply_reported(values(&[("setpoint", json!(v))]), now);
                }
                Step::Write(w, v) => {
                    let before = twin.state().clone();
                    let current = before.desired().get("setpoint").cloned();
                    match twin.set_desired_if("setpoint", json!(v), seen[w].0, now) {
                        Ok(write) => {
                            if current != seen[w].1 {
                                prop_assert_eq!(
                                    write.overwritten,
                                    Some(current.unwrap_or(Value::Null))
                                );
                            }
                            // The writer now knows its own write.
                            seen[w] = (write.version, Some(json!(v)));
                        }
                        Err(err) => {
                            let c = conflict(err);
                            prop_assert_eq!(twin.state(), &before);
                            prop_assert_eq!(c.state, before);
                        }
                    }
                }
            }
        }
    }
}

// ----- divergence ------------------------------------------------------------

fn twin_with_divergence_timeout(ms: u64) -> DigitalTwin {
    let mut options = TwinOptions::default();
    options.divergence_timeout = Some(ms);
    let mut config = thermostat_config();
    config.connection_type = None;
    config.connection_config = None;
    DigitalTwin::with_options(config, options).unwrap()
}

#[test]
fn divergence_says_since_when_and_by_how_much() {
    let mut twin = local_twin("d");
    twin.apply_reported(values(&[("setpoint", json!(65))]), 1_000);
    assert!(twin.divergence("setpoint", 1_000).is_none());
    twin.set_desired("setpoint", json!(70), 2_000).unwrap();
    twin.set_desired("mode", json!("cool"), 3_000).unwrap();
    let d = twin.divergence("setpoint", 9_000).unwrap();
    assert_eq!((d.since, d.duration), (2_000, 7_000));
    assert_eq!(d.difference, Some(5.0));
    assert_eq!(d.reported, Some(json!(65)));
    let all = twin.divergences(9_000);
    assert_eq!(
        all.iter().map(|d| d.property.as_str()).collect::<Vec<_>>(),
        ["setpoint", "mode"]
    );
    assert_eq!(all[1].difference, None);
    // A changed desired value keeps the divergence's start.
    twin.set_desired("setpoint", json!(72), 10_000).unwrap();
    assert_eq!(twin.divergence("setpoint", 10_000).unwrap().since, 2_000);
    // The device moves part of the way: still diverging, by less.
    twin.apply_reported(values(&[("setpoint", json!(71))]), 11_000);
    assert_eq!(
        twin.divergence("setpoint", 11_000).unwrap().difference,
        Some(1.0)
    );
    twin.apply_reported(values(&[("setpoint", json!(72.0))]), 12_000);
    assert!(twin.divergence("setpoint", 12_000).is_none());
    // Reported drifting away from desired diverges again, from then.
    twin.apply_reported(values(&[("setpoint", json!(60))]), 13_000);
    assert_eq!(twin.divergence("setpoint", 14_000).unwrap().since, 13_000);
    twin.set_desired("setpoint", Value::Null, 15_000).unwrap();
    assert!(twin.divergence("setpoint", 15_000).is_none());
}

#[test]
fn divergence_alert_after_the_timeout_clears_when_reached() {
    let mut twin = twin_with_divergence_timeout(60_000);
    let log = record(&twin);
    twin.apply_reported(values(&[("setpoint", json!(65))]), 0);
    twin.set_desired("setpoint", json!(70), 1_000).unwrap();
    assert_eq!(twin.poll_timeout(), Some(61_000));
    twin.handle_timeout(60_999);
    assert!(of_type(&log, EventType::Alert).is_empty());
    twin.handle_timeout(61_000);
    let alerts = of_type(&log, EventType::Alert);
    assert_eq!(alerts.len(), 1);
    let twinkit_core::EventData::Alert(alert) = &alerts[0].data else {
        panic!()
    };
    assert_eq!(alert.condition, AlertCondition::DesiredNotReached);
    assert_eq!(alert.property, "setpoint");
    assert_eq!((alert.value, alert.threshold), (65.0, 70.0));
    assert!(alert.message.contains("not reached"), "{}", alert.message);
    assert_eq!(
        serde_json::to_value(alert.condition).unwrap(),
        "DESIRED_NOT_REACHED"
    );
    assert_eq!(twin.active_alerts().count(), 1);
    assert_eq!(
        twin.divergence("setpoint", 61_000)
            .unwrap()
            .alert_id
            .as_deref(),
        Some(alert.id.as_str())
    );
    // Raised once per divergence, not again on every timeout.
    assert_eq!(twin.poll_timeout(), None);
    twin.handle_timeout(200_000);
    assert_eq!(of_type(&log, EventType::Alert).len(), 1);
    // The device reaches the value: the alert clears.
    twin.apply_reported(values(&[("setpoint", json!(70))]), 201_000);
    let alerts = of_type(&log, EventType::Alert);
    assert_eq!(alerts.len(), 2);
    let twinkit_core::EventData::Alert(cleared) = &alerts[1].data else {
        panic!()
    };
    assert_eq!(cleared.status, AlertStatus::Cleared);
    assert_eq!(twin.active_alerts().count(), 0);
    // Threshold alerts are unaffected by the new condition.
    assert_eq!(twin.alerts().recent_cleared().count(), 1);
}

#[test]
fn a_divergence_alert_cleared_by_hand_is_not_raised_again_for_that_divergence() {
    let mut twin = twin_with_divergence_timeout(10);
    twin.set_desired("setpoint", json!(70), 0).unwrap();
    twin.handle_timeout(10);
    let id = twin.active_alerts().next().unwrap().id.clone();
    twin.clear_alert(&id, 11).unwrap();
    twin.handle_timeout(100);
    assert_eq!(twin.active_alerts().count(), 0);
    // Reached, then a new divergence: a new alert.
    twin.apply_reported(values(&[("setpoint", json!(70))]), 101);
    twin.set_desired("setpoint", json!(71), 102).unwrap();
    twin.handle_timeout(112);
    assert_eq!(twin.active_alerts().count(), 1);
}

#[test]
fn zero_divergence_timeout_is_refused() {
    let mut options = TwinOptions::default();
    options.divergence_timeout = Some(0);
    let err = DigitalTwin::with_options(thermostat_config(), options).unwrap_err();
    assert!(err.to_string().contains("divergenceTimeout"), "{err}");
}

#[test]
fn sync_history_records_what_was_sent_and_what_came_back() {
    let mut twin = local_twin("d");
    twin.connect(0);
    twin.apply_reported(values(&[("setpoint", json!(65))]), 1);
    twin.set_desired("setpoint", json!(70), 2).unwrap();
    let Some(Outbound::Desired { version, .. }) = twin.poll_outbound(3) else {
        panic!("expected the desired value")
    };
    twin.apply_reported(values(&[("temperature", json!(71))]), 4);
    twin.apply_reported(values(&[("setpoint", json!(68))]), 5);
    twin.apply_reported(values(&[("setpoint", json!(70))]), 6);
    let h = twin.sync_history(None, None);
    assert_eq!(h.len(), 3, "{h:?}");
    assert_eq!(
        (
            h[0].timestamp,
            h[0].direction,
            &h[0].value,
            h[0].version,
            h[0].in_sync
        ),
        (3, SyncDirection::Sent, &json!(70), version, false)
    );
    assert_eq!(
        (h[1].direction, &h[1].value, h[1].in_sync),
        (SyncDirection::Received, &json!(68), false)
    );
    assert_eq!((&h[2].value, h[2].in_sync), (&json!(70), true));
    assert_eq!(twin.sync_history(Some("setpoint"), Some(1)), h[2..]);
    assert!(twin.sync_history(Some("mode"), None).is_empty());
}

#[test]
fn sync_history_is_bounded() {
    let mut options = TwinOptions::default();
    options.sync_history_capacity = 5;
    let mut config = thermostat_config();
    config.connection_type = None;
    config.connection_config = None;
    let mut twin = DigitalTwin::with_options(config, options).unwrap();
    twin.set_desired("setpoint", json!(70), 0).unwrap();
    for t in 1..=20u64 {
        twin.apply_reported(values(&[("setpoint", json!(60 + t % 3))]), t);
    }
    let h = twin.sync_history(None, None);
    assert_eq!(h.len(), 5);
    assert_eq!(h[0].timestamp, 16);
    assert_eq!(h[4].timestamp, 20);
}

// ----- other clients of the same device --------------------------------------

/// A connected twin of device `d` (as a transport would make it).
fn connected(id: &str) -> DigitalTwin {
    let mut twin = local_twin(id);
    twin.connect(0);
    twin
}

/// The desired values a twin sends, as the device's desired channel
/// carries them.
fn sent_desired(twin: &mut DigitalTwin, now: u64) -> Vec<(String, Value, u64)> {
    std::iter::from_fn(|| twin.poll_outbound(now))
        .filter_map(|o| match o {
            Outbound::Desired {
                property,
                value,
                version,
                ..
            } => Some((property, value, version)),
            _ => None,
        })
        .collect()
}

fn seen(property: &str, value: &Value, version: u64, own: bool) -> Inbound {
    seen_after(property, value, version, None, own)
}

/// A desired message whose writer had last seen device version `saw`.
fn seen_after(property: &str, value: &Value, version: u64, saw: Option<u64>, own: bool) -> Inbound {
    Inbound::Desired {
        values: [(property.to_string(), value.clone())].into(),
        version,
        device_version: saw,
        own,
    }
}

#[test]
fn two_clients_race_through_the_desired_channel_and_the_loser_sees_the_winner() {
    let mut a = connected("d");
    let mut b = connected("d");
    let a_events = record(&a);
    let b_events = record(&b);
    a.set_desired("setpoint", json!(62), 1).unwrap();
    b.set_desired("setpoint", json!(66), 1).unwrap();
    let from_a = sent_desired(&mut a, 2).remove(0);
    let from_b = sent_desired(&mut b, 2).remove(0);
    // The broker delivers A's message first, then B's, to everyone: the
    // device ends at 66, B's value.
    let (ap, av, aver) = &from_a;
    let (bp, bv, bver) = &from_b;
    // B sees A's edit while its own is still on its way: ours comes later.
    let out = b.ingest(seen(ap, av, *aver, false), 3).unwrap();
    assert_eq!(out.stale, vec!["setpoint".to_string()]);
    b.ingest(seen(bp, bv, *bver, true), 4).unwrap();
    assert_eq!(b.state().desired()["setpoint"], json!(66));
    // A sees its echo, then B's later edit: A lost and is told.
    a.ingest(seen(ap, av, *aver, true), 3).unwrap();
    let a_before = a.state().version();
    let out = a.ingest(seen(bp, bv, *bver, false), 4).unwrap();
    assert_eq!(out.applied, vec!["setpoint".to_string()]);
    assert_eq!(
        a.state().desired()["setpoint"],
        json!(66),
        "A shows the winner"
    );
    assert!(a.state().version() > a_before);
    assert_eq!(a.outbound_len(), 0, "an adopted value is not sent again");
    let errors = of_type(&a_events, EventType::Error);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let EventData::Error(info) = &errors[0].data else {
        unreachable!()
    };
    assert_eq!(info.code, "CONFLICT");
    assert_eq!(info.property.as_deref(), Some("setpoint"));
    assert!(
        info.message
            .contains("property `setpoint` was set to 66 by another client at version"),
        "{}",
        info.message
    );
    assert!(
        of_type(&b_events, EventType::Error).is_empty(),
        "the winner has nothing to hear"
    );
    // A's own edit is superseded in its audit trail, with the reason.
    let entry = a.audit().entries().last().unwrap();
    assert_eq!(entry.outcome(), AuditOutcome::Superseded);
    assert!(entry.detail().unwrap().contains("another client"));
    // A page still editing on the version it read before is refused.
    let lost = conflict(
        a.set_desired_if("setpoint", json!(60), a_before, 5)
            .unwrap_err(),
    );
    assert_eq!(lost.winner, json!(66));
    // The device reports the winner: both twins are in sync.
    for twin in [&mut a, &mut b] {
        twin.apply_reported(values(&[("setpoint", json!(66))]), 6);
        assert!(twin.state().delta().is_empty());
    }
}

#[test]
fn another_clients_later_edit_is_followed_and_echoes_change_nothing() {
    let mut a = connected("d");
    let events = record(&a);
    // No edit of ours pending: another client's value is simply adopted.
    a.ingest(seen("mode", &json!("eco"), 4, false), 1).unwrap();
    assert_eq!(a.state().desired()["mode"], json!("eco"));
    assert!(of_type(&events, EventType::Error).is_empty());
    assert_eq!(of_type(&events, EventType::StateChange).len(), 1);
    // The same value again changes nothing; a bad one is refused by name.
    let version = a.state().version();
    a.ingest(seen("mode", &json!("eco"), 5, false), 2).unwrap();
    assert_eq!(a.state().version(), version);
    let out = a
        .ingest(seen("setpoint", &json!(500), 6, false), 3)
        .unwrap();
    assert_eq!(out.rejected[0].1.code(), "OUT_OF_RANGE");
    let out = a
        .ingest(seen("temperature", &json!(50), 6, false), 3)
        .unwrap();
    assert_eq!(out.rejected[0].1.code(), "NOT_WRITABLE");
    assert!(a.state().desired().get("setpoint").is_none());
    // Our own edit reached the device before another client's: the other
    // client's later edit replaces it quietly (nothing of ours was pending).
    a.set_desired("setpoint", json!(70), 4).unwrap();
    let (p, v, ver) = sent_desired(&mut a, 5).remove(0);
    a.ingest(seen(&p, &v, ver, true), 6).unwrap();
    a.apply_reported(values(&[("setpoint", json!(70))]), 7);
    let errors_before = of_type(&events, EventType::Error).len();
    a.ingest(seen("setpoint", &json!(72), 9, false), 8).unwrap();
    assert_eq!(a.state().desired()["setpoint"], json!(72));
    assert_eq!(of_type(&events, EventType::Error).len(), errors_before);
}

#[test]
fn an_edit_the_device_took_is_lost_to_a_writer_who_had_not_seen_it() {
    let device = |twin: &mut DigitalTwin, value: i64, version: u64, at: u64| {
        twin.ingest(
            Inbound::Reported {
                values: values(&[("setpoint", json!(value))]),
                timestamp: Some(at),
                version: Some(version),
            },
            at,
        )
        .unwrap();
    };
    let mut a = connected("d");
    let events = record(&a);
    device(&mut a, 60, 10, 1);
    a.set_desired("setpoint", json!(62), 2).unwrap();
    let sent = a.poll_outbound(3).unwrap();
    assert!(
        matches!(
            sent,
            Outbound::Desired {
                device_version: Some(10),
                ..
            }
        ),
        "the edit says which device version its writer had seen: {sent:?}"
    );
    a.ingest(seen("setpoint", &json!(62), 1, true), 4).unwrap();
    // The device takes 62 at its version 11 before the other client's
    // edit, written when that client had only seen version 10, arrives.
    device(&mut a, 62, 11, 5);
    assert!(a.state().delta().is_empty());
    a.ingest(seen_after("setpoint", &json!(66), 3, Some(10), false), 6)
        .unwrap();
    assert_eq!(a.state().desired()["setpoint"], json!(66));
    let errors = of_type(&events, EventType::Error);
    assert_eq!(errors.len(), 1, "{errors:?}");
    // A writer who had seen version 11 made an ordinary later edit.
    device(&mut a, 66, 12, 7);
    a.set_desired("setpoint", json!(64), 8).unwrap();
    a.poll_outbound(8);
    a.ingest(seen("setpoint", &json!(64), 5, true), 9).unwrap();
    device(&mut a, 64, 13, 10);
    a.ingest(seen_after("setpoint", &json!(70), 6, Some(13), false), 11)
        .unwrap();
    assert_eq!(a.state().desired()["setpoint"], json!(70));
    assert_eq!(
        of_type(&events, EventType::Error).len(),
        1,
        "no new conflict"
    );
    // Nor is a writer who does not say what it had seen.
    device(&mut a, 70, 14, 12);
    a.ingest(seen("setpoint", &json!(72), 7, false), 13)
        .unwrap();
    assert_eq!(of_type(&events, EventType::Error).len(), 1);
}

#[test]
fn a_reconnect_forgets_what_was_in_flight() {
    let mut a = connected("d");
    a.set_desired("setpoint", json!(62), 1).unwrap();
    sent_desired(&mut a, 2);
    a.handle_disconnected(Some("gone"), 3);
    a.handle_connected(4);
    // The delta is queued again: another client's edit arriving now is
    // still older than ours.
    let out = a.ingest(seen("setpoint", &json!(66), 9, false), 5).unwrap();
    assert_eq!(out.stale, vec!["setpoint".to_string()]);
    sent_desired(&mut a, 6);
    a.ingest(seen("setpoint", &json!(62), 10, true), 7).unwrap();
    // Echoed: a later edit by someone else wins and is reported.
    let out = a
        .ingest(seen("setpoint", &json!(66), 11, false), 8)
        .unwrap();
    assert_eq!(out.applied, vec!["setpoint".to_string()]);
}

// ----- the device's own version ----------------------------------------------

fn report(value: i64, version: u64, timestamp: u64) -> Inbound {
    Inbound::Reported {
        values: values(&[("setpoint", json!(value))]),
        timestamp: Some(timestamp),
        version: Some(version),
    }
}

#[test]
fn device_versions_drop_redeliveries_and_late_reports_and_survive_a_restart() {
    let mut twin = local_twin("d");
    assert_eq!(twin.device_version(), None);
    let out = twin.ingest(report(60, 5, 100), 100).unwrap();
    assert_eq!(out.applied, vec!["setpoint".to_string()]);
    assert_eq!(twin.device_version(), Some(5));
    assert_eq!(twin.state().device_version(), Some(5));
    let version = twin.state().version();
    // The same report again (a redelivery): ignored.
    let out = twin.ingest(report(60, 5, 100), 101).unwrap();
    assert!(out.duplicate && out.applied.is_empty());
    // An older version, measured earlier, arriving late: ignored.
    let out = twin.ingest(report(58, 4, 90), 102).unwrap();
    assert_eq!(out.stale, vec!["setpoint".to_string()]);
    assert_eq!(twin.property("setpoint"), Some(&json!(60)));
    assert_eq!(twin.state().version(), version);
    // Newer: taken.
    twin.ingest(report(61, 8, 110), 111).unwrap();
    assert_eq!(twin.property("setpoint"), Some(&json!(61)));
    // The device restarted and counts from 1 again, measured later: taken.
    let out = twin.ingest(report(63, 1, 200), 201).unwrap();
    assert_eq!(out.applied, vec!["setpoint".to_string()]);
    assert_eq!(twin.device_version(), Some(1));
    // Reports without a version are taken as before.
    twin.ingest(
        Inbound::Reported {
            values: values(&[("setpoint", json!(64))]),
            timestamp: Some(210),
            version: None,
        },
        210,
    )
    .unwrap();
    assert_eq!(twin.property("setpoint"), Some(&json!(64)));
    assert_eq!(
        serde_json::to_value(twin.state()).unwrap()["deviceVersion"],
        json!(1)
    );
}
