//! The twins on one shared connection, by device: several twins of one
//! device (two components of a page, a fleet member and a detail view) all
//! receive what the device sends, and each tells its own desired edits from
//! its siblings'. The link marks a desired message this connection wrote
//! (`own`); which of the device's twins wrote it is kept here, in the order
//! the messages went out, which is the order the transport echoes them.

use std::collections::{BTreeMap, HashMap, VecDeque};

use twinkit_core::{Inbound, Outbound};

use crate::twin::{Twin, WeakTwin};

/// Desired messages awaiting their echo, per device; beyond this the
/// oldest are forgotten (a transport that never echoes, such as HTTP,
/// must not grow the list).
const MAX_AWAITING_ECHO: usize = 1_024;

#[derive(Debug, Default)]
pub(crate) struct Members {
    by_device: BTreeMap<String, Vec<WeakTwin>>,
    /// (property, writer) of desired messages sent and not echoed yet, for
    /// devices with more than one twin here.
    writers: HashMap<String, VecDeque<(String, WeakTwin)>>,
}

impl Members {
    /// Adds `twin`; true when it is its device's first twin here.
    pub(crate) fn join(&mut self, twin: &Twin) -> bool {
        let twins = self.by_device.entry(twin.id()).or_default();
        twins.retain(|w| w.upgrade().is_some());
        if !twins.iter().any(|w| w.points_to(twin)) {
            twins.push(twin.downgrade());
        }
        twins.len() == 1
    }

    /// Removes `twin` (and twins already gone); true when its device has
    /// no twin left here.
    pub(crate) fn leave(&mut self, twin: &Twin) -> bool {
        let id = twin.id();
        let Some(twins) = self.by_device.get_mut(&id) else {
            return false;
        };
        twins.retain(|w| !w.points_to(twin) && w.upgrade().is_some());
        if twins.len() < 2 {
            self.writers.remove(&id);
        }
        if twins.is_empty() {
            self.by_device.remove(&id);
            return true;
        }
        false
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_device.is_empty()
    }

    /// Every live twin.
    pub(crate) fn all(&self) -> Vec<Twin> {
        self.by_device
            .values()
            .flatten()
            .filter_map(WeakTwin::upgrade)
            .collect()
    }

    /// The live twins of one device.
    pub(crate) fn of(&self, device_id: &str) -> Vec<Twin> {
        self.by_device
            .get(device_id)
            .map(|twins| twins.iter().filter_map(WeakTwin::upgrade).collect())
            .unwrap_or_default()
    }

    /// Notes that `twin` handed `outbound` to the link.
    pub(crate) fn sent(&mut self, twin: &Twin, outbound: &Outbound) {
        let Outbound::Desired { property, .. } = outbound else {
            return;
        };
        let id = twin.id();
        if self.by_device.get(&id).is_none_or(|twins| twins.len() < 2) {
            return;
        }
        let writers = self.writers.entry(id).or_default();
        if writers.len() == MAX_AWAITING_ECHO {
            writers.pop_front();
        }
        writers.push_back((property.clone(), twin.downgrade()));
    }

    /// The connection went down: echoes of what was sent will not come
    /// (the twins send their delta again).
    pub(crate) fn forget_sent(&mut self) {
        self.writers.clear();
    }

    /// Who gets what of one inbound message: every twin of the device,
    /// except that the echo of a desired edit is `own` only for the twin
    /// that wrote it (a sibling's edit is another writer's to the others),
    /// a refused edit goes to its writer, and a command response to the
    /// twin that sent the command.
    pub(crate) fn route(&mut self, device_id: &str, inbound: Inbound) -> Vec<(Twin, Inbound)> {
        let twins = self.of(device_id);
        if twins.len() < 2 {
            return to_all(twins, &inbound);
        }
        match inbound {
            Inbound::Desired {
                ref values,
                version,
                device_version,
                own: true,
            } => {
                let Some(writer) = self.take_writer(device_id, |p| values.contains_key(p)) else {
                    return to_all(twins, &inbound);
                };
                // A writer since freed leaves its siblings another's edit.
                let foreign = Inbound::Desired {
                    values: values.clone(),
                    version,
                    device_version,
                    own: false,
                };
                twins
                    .into_iter()
                    .map(|t| {
                        let message = if writer.points_to(&t) {
                            inbound.clone()
                        } else {
                            foreign.clone()
                        };
                        (t, message)
                    })
                    .collect()
            }
            Inbound::DesiredConflict { ref property, .. } => {
                match self.take_writer(device_id, |p| p == property) {
                    Some(writer) => writer.upgrade().map(|w| (w, inbound)).into_iter().collect(),
                    None => to_all(twins, &inbound),
                }
            }
            Inbound::CommandResponse(ref response) => {
                // Unknown to all: one twin reports it.
                let sender = twins
                    .iter()
                    .find(|t| t.core().command(&response.command_id).is_some())
                    .unwrap_or(&twins[0])
                    .clone();
                vec![(sender, inbound)]
            }
            inbound => to_all(twins, &inbound),
        }
    }

    /// The oldest writer of an edit `matches` accepts, taken off the list.
    fn take_writer(&mut self, device_id: &str, matches: impl Fn(&str) -> bool) -> Option<WeakTwin> {
        let writers = self.writers.get_mut(device_id)?;
        let at = writers.iter().position(|(p, _)| matches(p))?;
        writers.remove(at).map(|(_, writer)| writer)
    }
}

/// The same message for each twin.
fn to_all(twins: Vec<Twin>, inbound: &Inbound) -> Vec<(Twin, Inbound)> {
    twins.into_iter().map(|t| (t, inbound.clone())).collect()
}
