//! The WebSocket JSON protocol as a sans-io link, frame by frame.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use twinkit_core::json_link::{JsonLink, KEEPALIVE_INTERVAL, MAX_QUEUED_MESSAGES};
use twinkit_core::link::{Frame, Link, LinkEvent};
use twinkit_core::wire::Token;
use twinkit_core::{CommandStatus, Inbound, Outbound};

fn drain(link: &mut JsonLink) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

fn sent(events: &[LinkEvent]) -> Vec<serde_json::Value> {
    events
        .iter()
        .filter_map(|e| match e {
            LinkEvent::Transmit(Frame::Text(t)) => Some(serde_json::from_str(t).unwrap()),
            _ => None,
        })
        .collect()
}

fn text(v: serde_json::Value) -> Frame {
    Frame::Text(v.to_string())
}

#[test]
fn open_says_hello_for_every_device_with_the_token_then_is_up() {
    let mut link = JsonLink::new(Some(Token::new("s3cret")));
    link.join("a", 0);
    link.join("b", 0);
    assert!(drain(&mut link).is_empty(), "nothing goes out before open");
    link.handle_open(10);
    let events = drain(&mut link);
    assert_eq!(
        sent(&events),
        vec![
            json!({"type": "hello", "deviceId": "a", "token": "s3cret"}),
            json!({"type": "hello", "deviceId": "b", "token": "s3cret"}),
        ]
    );
    assert_eq!(events.last(), Some(&LinkEvent::Up));
    assert!(
        !format!("{link:?}").contains("s3cret"),
        "Debug hides the token"
    );
    link.join("c", 20);
    assert_eq!(
        sent(&drain(&mut link)),
        vec![json!({"type": "hello", "deviceId": "c", "token": "s3cret"})]
    );
}

#[test]
fn state_telemetry_and_command_responses_reach_their_twin() {
    let mut link = JsonLink::new(None);
    link.join("a", 0);
    link.handle_open(0);
    drain(&mut link);
    link.handle_frame(
        text(json!({"type": "state", "deviceId": "a", "reported": {"t": 1}, "timestamp": 5})),
        6,
    );
    link.handle_frame(
        text(json!({"type": "telemetry", "deviceId": "a", "timestamp": 7, "values": {"t": 2}})),
        8,
    );
    link.handle_frame(
        Frame::Binary(
            br#"{"type":"commandResponse","deviceId":"a","commandId":"c1","status":"completed"}"#
                .to_vec(),
        ),
        9,
    );
    let events = drain(&mut link);
    assert_eq!(events.len(), 3, "{events:?}");
    match &events[0] {
        LinkEvent::Inbound {
            device_id,
            inbound: Inbound::Reported {
                values, timestamp, ..
            },
        } => {
            assert_eq!(device_id, "a");
            assert_eq!(values["t"], json!(1));
            assert_eq!(*timestamp, Some(5));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&events[1], LinkEvent::Inbound { inbound: Inbound::Telemetry(d), .. } if d.timestamp == 7)
    );
    assert!(
        matches!(&events[2], LinkEvent::Inbound { inbound: Inbound::CommandResponse(r), .. }
        if r.command_id == "c1" && r.status == CommandStatus::Completed)
    );
}

#[test]
fn bad_frames_are_rejected_and_nothing_else_happens() {
    let mut link = JsonLink::new(None);
    link.join("a", 0);
    link.handle_open(0);
    drain(&mut link);
    let bad = [
        Frame::Text("{not json".into()),
        text(
            json!({"type": "telemetry", "deviceId": "a", "timestamp": 1, "values": {"__proto__": 1}}),
        ),
        text(json!({"type": "nonsense", "deviceId": "a"})),
        text(json!({"type": "state", "deviceId": "zz", "reported": {}})),
        text(json!({"type": "hello", "deviceId": "a"})),
        text(
            json!({"type": "desired", "deviceId": "a", "desired": {}, "version": 1, "origin": "\u{7}"}),
        ),
        Frame::Binary(vec![0xff, 0xfe]),
    ];
    for frame in bad {
        link.handle_frame(frame.clone(), 1);
        let events = drain(&mut link);
        assert_eq!(events.len(), 1, "{frame:?}: {events:?}");
        assert!(
            matches!(events[0], LinkEvent::Rejected { .. }),
            "{frame:?}: {events:?}"
        );
    }
}

#[test]
fn outbound_while_down_is_queued_bounded_and_sent_in_order_on_open() {
    let mut link = JsonLink::new(None);
    link.join("a", 0);
    let desired = |v: i64| Outbound::Desired {
        property: "sp".into(),
        value: json!(v),
        version: v as u64,
        device_version: None,
    };
    for v in 0..MAX_QUEUED_MESSAGES as i64 {
        link.send("a", desired(v), 0).unwrap();
    }
    let full = link.send("a", desired(-1), 0).unwrap_err();
    assert!(full.contains("queue full"), "{full}");
    link.handle_open(1);
    let out = sent(&drain(&mut link));
    assert_eq!(out.len(), 1 + MAX_QUEUED_MESSAGES);
    assert_eq!(
        out[1],
        json!({"type": "desired", "deviceId": "a", "desired": {"sp": 0}, "version": 0,
               "origin": link.origin()})
    );
    assert_eq!(
        out.last().unwrap()["desired"]["sp"],
        json!(MAX_QUEUED_MESSAGES - 1)
    );
}

#[test]
fn quiet_links_ping_answer_pings_and_declare_a_silent_server_down() {
    let mut link = JsonLink::new(None);
    link.join("a", 0);
    link.handle_open(0);
    drain(&mut link);
    link.handle_frame(text(json!({"type": "ping", "timestamp": 3})), 1);
    assert_eq!(
        sent(&drain(&mut link)),
        vec![json!({"type": "pong", "timestamp": 3})]
    );

    let due = link.poll_timeout().unwrap();
    assert_eq!(due, 1 + KEEPALIVE_INTERVAL);
    link.handle_timeout(due);
    assert_eq!(sent(&drain(&mut link))[0]["type"], "ping");
    let deadline = link.poll_timeout().unwrap();
    link.handle_timeout(deadline);
    let events = drain(&mut link);
    assert!(
        matches!(&events[..], [LinkEvent::Down { reason }] if reason.contains("no answer")),
        "{events:?}"
    );
    assert_eq!(link.poll_timeout(), None);
}

#[test]
fn close_is_down_once_and_leave_forgets_the_device() {
    let mut link = JsonLink::new(None);
    link.join("a", 0);
    link.handle_open(0);
    drain(&mut link);
    link.handle_close("connection lost", 5);
    link.handle_close("again", 6);
    assert_eq!(
        drain(&mut link),
        vec![LinkEvent::Down {
            reason: "connection lost".into()
        }]
    );
    link.leave("a", 7);
    link.handle_open(8);
    assert_eq!(
        drain(&mut link),
        vec![LinkEvent::Up],
        "no hello for a device that left"
    );
}

#[test]
fn state_versions_and_relayed_desired_values_reach_the_twin() {
    let mut link = JsonLink::new(None);
    link.join("a", 0);
    link.handle_open(0);
    drain(&mut link);
    link.handle_frame(
        text(json!({"type": "state", "deviceId": "a", "reported": {"sp": 21}, "version": 7, "timestamp": 5})),
        6,
    );
    // The server relays what the device accepted: ours, then another client's.
    let ours = link.origin().to_string();
    link.handle_frame(
        text(json!({"type": "desired", "deviceId": "a", "desired": {"sp": 22}, "version": 8, "origin": ours})),
        7,
    );
    link.handle_frame(
        text(json!({"type": "desired", "deviceId": "a", "desired": {"sp": 26}, "version": 9, "origin": "someone-else", "deviceVersion": 7})),
        8,
    );
    let inbound: Vec<Inbound> = drain(&mut link)
        .into_iter()
        .map(|e| match e {
            LinkEvent::Inbound { device_id, inbound } => {
                assert_eq!(device_id, "a");
                inbound
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        inbound,
        vec![
            Inbound::Reported {
                values: [("sp".to_string(), json!(21))].into(),
                timestamp: Some(5),
                version: Some(7),
            },
            Inbound::Desired {
                values: [("sp".to_string(), json!(22))].into(),
                version: 8,
                device_version: None,
                own: true,
            },
            Inbound::Desired {
                values: [("sp".to_string(), json!(26))].into(),
                version: 9,
                device_version: Some(7),
                own: false,
            },
        ]
    );
    // Two links never share an origin.
    assert_ne!(JsonLink::new(None).origin(), link.origin());
}
