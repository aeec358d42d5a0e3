//! One MQTT connection per simulated device (rumqttc over TCP): QoS 1
//! telemetry, reported state and command responses; a retained `status`
//! that is also the connection's will; subscriptions to `desired` and
//! `commands`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event as MqttEvent, EventLoop, LastWill, MqttOptions, Packet, Publish, QoS,
};
use tokio::sync::{broadcast, mpsc, watch};
use twinkit_core::wire::{self, Message, MAX_MESSAGE_BYTES};

use super::{now_ms, Event, Shared};
use crate::device::Output;

/// Requests queued in rumqttc while the broker is unreachable (about
/// 17 minutes of one record a second); beyond it records are dropped and
/// logged.
const QUEUE: usize = 1024;

/// Publishes handed to rumqttc and publishes it wrote, so a connection
/// drop can wait for what was said before it.
#[derive(Debug, Default)]
struct Counts {
    queued: AtomicU64,
    sent: AtomicU64,
}

impl Counts {
    fn queued(&self) {
        self.queued.fetch_add(1, Ordering::AcqRel);
    }
}

pub(crate) struct DeviceConnection {
    pub shared: Arc<Shared>,
    pub device_id: String,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub events: broadcast::Receiver<Event>,
}

fn topic(prefix: &str, device_id: &str, suffix: &str) -> String {
    format!("{prefix}/{device_id}/{suffix}")
}

impl DeviceConnection {
    fn options(&self) -> MqttOptions {
        let client_id = format!("twinkit-sim-{}-{}", self.shared.prefix, self.device_id);
        let mut options = MqttOptions::new(client_id, self.host.clone(), self.port);
        options.set_keep_alive(Duration::from_secs(15));
        // A persistent session: QoS 1 messages unacknowledged when the
        // broker went away are sent again after reconnecting.
        options.set_clean_session(false);
        options.set_max_packet_size(MAX_MESSAGE_BYTES + 1024, MAX_MESSAGE_BYTES + 1024);
        let offline = self
            .shared
            .read_device(&self.device_id, |d, now| {
                d.status_message(false, now).encode()
            })
            .unwrap_or_default();
        options.set_last_will(LastWill::new(
            topic(&self.shared.prefix, &self.device_id, "status"),
            offline,
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(user) = &self.username {
            options.set_credentials(user.clone(), self.password.clone().unwrap_or_default());
        }
        options
    }

    /// Runs until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            let (client, eventloop) = AsyncClient::new(self.options(), QUEUE);
            let (incoming_tx, mut incoming) = mpsc::channel(256);
            let counts = Arc::new(Counts::default());
            let poller = tokio::spawn(poll(
                eventloop,
                client.clone(),
                incoming_tx,
                self.shared.prefix.clone(),
                self.device_id.clone(),
                counts.clone(),
            ));
            let offline_until = loop {
                tokio::select! {
                    Some(publish) = incoming.recv() => self.handle_incoming(&publish),
                    event = self.events.recv() => match event {
                        Ok(event) if *event.device_id == *self.device_id => {
                            if let Some(until) = self.publish(&client, &counts, event.output) {
                                break Some(until);
                            }
                        }
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            eprintln!("twinkit-sim: mqtt {}: {n} events skipped (slow broker)", self.device_id);
                        }
                        Err(broadcast::error::RecvError::Closed) => break None,
                    },
                    _ = stop.changed() => break None,
                }
            };
            match offline_until {
                Some(until) => {
                    // What the device said before the fault (the `fault`
                    // command's answer) goes out first, within a bound.
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                    while counts.sent.load(Ordering::Acquire)
                        < counts.queued.load(Ordering::Acquire)
                        && tokio::time::Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    // Dropped without DISCONNECT: the broker publishes the will.
                    poller.abort();
                    let _ = poller.await;
                    let wait = until.saturating_sub(now_ms());
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                        _ = stop.changed() => return,
                    }
                    // Events of the outage (none: the device was silent) are stale.
                    self.events = self.events.resubscribe();
                }
                None => {
                    // A clean stop: announce `offline` (retained) ourselves,
                    // since a DISCONNECT discards the will.
                    let offline = self
                        .shared
                        .read_device(&self.device_id, |d, now| {
                            d.status_message(false, now).encode()
                        })
                        .unwrap_or_default();
                    let status = topic(&self.shared.prefix, &self.device_id, "status");
                    let _ = client.try_publish(status, QoS::AtLeastOnce, true, offline);
                    let _ = client.try_disconnect();
                    let _ = tokio::time::timeout(Duration::from_secs(2), poller).await;
                    return;
                }
            }
        }
    }

    /// Publishes one output; returns the end of an outage when the output
    /// asks to drop the connection.
    fn publish(&self, client: &AsyncClient, counts: &Counts, output: Output) -> Option<u64> {
        let prefix = &self.shared.prefix;
        let (suffix, payload) = match output {
            Output::Send(message) => {
                let suffix = match &message {
                    Message::Telemetry(_) => "telemetry",
                    Message::State(_) => "reported",
                    Message::CommandResponse(_) => "commands/response",
                    Message::Status(_) => "status",
                    _ => return None,
                };
                (suffix, message.encode())
            }
            Output::Malformed { text } => ("telemetry", text),
            Output::Disconnect { until } => return Some(until),
        };
        match client.try_publish(
            topic(prefix, &self.device_id, suffix),
            QoS::AtLeastOnce,
            false,
            payload,
        ) {
            Ok(()) => counts.queued(),
            Err(e) => eprintln!(
                "twinkit-sim: mqtt {}: {suffix} dropped: {e}",
                self.device_id
            ),
        }
        None
    }

    fn handle_incoming(&self, publish: &Publish) {
        let expected = match publish.topic.rsplit('/').next() {
            Some("desired") => "desired",
            Some("commands") => "command",
            _ => return,
        };
        let outcome = wire::decode_bytes(&publish.payload)
            .map_err(|e| e.to_string())
            .and_then(|message| {
                if message.type_name() != expected {
                    return Err(format!(
                        "expected a `{expected}` message on {}, got `{}`",
                        publish.topic,
                        message.type_name()
                    ));
                }
                self.shared
                    .with_device(&self.device_id, |d, now| d.handle(&message, now))
                    .unwrap_or(Ok(()))
                    .map_err(|e| e.to_string())
            });
        if let Err(reason) = outcome {
            eprintln!(
                "twinkit-sim: mqtt {}: refused message: {reason}",
                self.device_id
            );
        }
    }
}

/// Drives the rumqttc event loop: subscribes and announces `online` after
/// every CONNACK, forwards incoming publishes, retries with a capped
/// backoff when the broker is away.
async fn poll(
    mut eventloop: EventLoop,
    client: AsyncClient,
    incoming: mpsc::Sender<Publish>,
    prefix: String,
    device_id: String,
    counts: Arc<Counts>,
) {
    let mut backoff = Duration::from_millis(250);
    let mut reported_error = false;
    loop {
        match eventloop.poll().await {
            Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(250);
                if reported_error {
                    eprintln!("twinkit-sim: mqtt {device_id}: connected again");
                }
                reported_error = false;
                for suffix in ["desired", "commands"] {
                    let _ =
                        client.try_subscribe(topic(&prefix, &device_id, suffix), QoS::AtLeastOnce);
                }
                let online = Message::Status(twinkit_core::wire::Status {
                    device_id: device_id.clone(),
                    online: true,
                    timestamp: Some(now_ms()),
                })
                .encode();
                if client
                    .try_publish(
                        topic(&prefix, &device_id, "status"),
                        QoS::AtLeastOnce,
                        true,
                        online,
                    )
                    .is_ok()
                {
                    counts.queued();
                }
            }
            Ok(MqttEvent::Incoming(Packet::Publish(publish))) => {
                if incoming.send(publish).await.is_err() {
                    return;
                }
            }
            Ok(MqttEvent::Outgoing(rumqttc::Outgoing::Publish(_))) => {
                counts.sent.fetch_add(1, Ordering::AcqRel);
            }
            Ok(MqttEvent::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                // Let the DISCONNECT reach the broker, then stop.
                let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                if !reported_error {
                    eprintln!("twinkit-sim: mqtt {device_id}: {e}; retrying");
                    reported_error = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
