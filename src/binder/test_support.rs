//! Test support for the sync decisions: expected-action constructors, and a tiny in-memory API server that
//! executes actions exactly as the executor contract in [`actions`](super::actions) says.
use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use super::actions::{
    Action, ClaimKey, Event, EventType, FailureEvent, Reason, Write, WritePurpose, claim_reference,
    volume_reference,
};
use super::claim_sync::{SyncOptions, sync_claim};
use super::volume_sync::{LiveClaim, sync_volume};
use super::world::{Snapshot, World};

pub fn update_volume(volume: PersistentVolume, purpose: WritePurpose) -> Action {
    Action::UpdateVolume(Write::new(volume, purpose))
}

pub fn volume_status(volume: PersistentVolume) -> Action {
    Action::UpdateVolumeStatus(Write::new(volume, WritePurpose::VolumePhase))
}

pub fn update_claim(claim: PersistentVolumeClaim, purpose: WritePurpose) -> Action {
    Action::UpdateClaim(Write::new(claim, purpose))
}

pub fn claim_status(claim: PersistentVolumeClaim) -> Action {
    Action::UpdateClaimStatus(Write::new(claim, WritePurpose::ClaimStatus))
}

/// The provisioner-annotation write, with its upstream failure event.
pub fn set_provisioner(claim: PersistentVolumeClaim) -> Action {
    let mut write = Write::new(claim, WritePurpose::SetProvisioner);
    write.on_failure = Some(FailureEvent {
        event_type: EventType::Warning,
        reason: Reason::ProvisioningFailed,
        message_prefix: "Error saving claim: ",
    });
    Action::UpdateClaim(write)
}

pub fn claim_event(
    claim: &PersistentVolumeClaim,
    event_type: EventType,
    reason: Reason,
    message: &str,
) -> Action {
    Action::Event(Event::new(
        claim_reference(claim),
        event_type,
        reason,
        message.to_string(),
    ))
}

pub fn volume_event(
    volume: &PersistentVolume,
    event_type: EventType,
    reason: Reason,
    message: &str,
) -> Action {
    Action::Event(Event::new(
        volume_reference(volume),
        event_type,
        reason,
        message.to_string(),
    ))
}

/// Only the writes of an action list.
pub fn writes(actions: &[Action]) -> Vec<&Action> {
    actions.iter().filter(|action| action.is_write()).collect()
}

/// A snapshot holding the given objects.
pub fn world(
    volumes: &[PersistentVolume],
    claims: &[PersistentVolumeClaim],
    classes: &[StorageClass],
) -> Snapshot {
    let mut world = Snapshot::new();
    for volume in volumes {
        world.volumes_mut().upsert(Arc::new(volume.clone()));
    }
    for claim in claims {
        world.upsert_claim(Arc::new(claim.clone()));
    }
    for class in classes {
        world.upsert_class(Arc::new(class.clone()));
    }
    world
}

/// How executing an action list ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    /// A write hit a resourceVersion conflict.
    Conflict(String),
    /// An `Action::Fail`.
    Failed(String),
    LookUp(ClaimKey),
}

/// The API server and the controller cache in one: writes land in `world` with a fresh resourceVersion.
pub struct FakeApi {
    pub world: Snapshot,
    pub events: Vec<Event>,
    pub enqueued: Vec<ClaimKey>,
    next_version: u64,
}

impl FakeApi {
    pub fn new(world: Snapshot) -> Self {
        FakeApi {
            world,
            events: Vec::new(),
            enqueued: Vec::new(),
            next_version: 100,
        }
    }

    fn bump(&mut self) -> String {
        self.next_version += 1;
        self.next_version.to_string()
    }

    /// Executes per the contract: in order, resourceVersions chained between writes of the same object, a
    /// main-resource PUT keeps the stored status, a status PUT keeps the stored metadata and spec.
    pub fn execute(&mut self, actions: &[Action]) -> Outcome {
        let mut chained: HashMap<String, String> = HashMap::new();
        for action in actions {
            let result = match action {
                Action::UpdateVolume(write) => self.put_volume(write, &mut chained, false),
                Action::UpdateVolumeStatus(write) => self.put_volume(write, &mut chained, true),
                Action::UpdateClaim(write) => self.put_claim(write, &mut chained, false),
                Action::UpdateClaimStatus(write) => self.put_claim(write, &mut chained, true),
                Action::Event(event) => {
                    self.events.push(event.clone());
                    Ok(())
                }
                Action::EnqueueClaim(key) => {
                    self.enqueued.push(key.clone());
                    Ok(())
                }
                Action::LookUpClaimLive(key) => return Outcome::LookUp(key.clone()),
                Action::Fail(error) => return Outcome::Failed(error.to_string()),
            };
            if let Err(conflict) = result {
                return Outcome::Conflict(conflict);
            }
        }
        Outcome::Done
    }

    fn put_volume(
        &mut self,
        write: &Write<PersistentVolume>,
        chained: &mut HashMap<String, String>,
        status: bool,
    ) -> Result<(), String> {
        let name = write.object.metadata.name.clone().unwrap_or_default();
        let key = format!("pv/{name}");
        let stored = self
            .world
            .volumes()
            .get(&name)
            .cloned()
            .ok_or_else(|| format!("{key} not found"))?;
        let sent = chained
            .get(&key)
            .cloned()
            .or_else(|| write.object.metadata.resource_version.clone());
        if sent != stored.metadata.resource_version {
            return Err(format!(
                "{key}: sent {sent:?}, stored {:?}",
                stored.metadata.resource_version
            ));
        }
        let mut new = if status {
            let mut new = stored.as_ref().clone();
            new.status = write.object.status.clone();
            new
        } else {
            let mut new = write.object.as_ref().clone();
            new.status = stored.status.clone();
            new
        };
        let version = self.bump();
        new.metadata.resource_version = Some(version.clone());
        chained.insert(key, version);
        self.world.volumes_mut().upsert(Arc::new(new));
        Ok(())
    }

    fn put_claim(
        &mut self,
        write: &Write<PersistentVolumeClaim>,
        chained: &mut HashMap<String, String>,
        status: bool,
    ) -> Result<(), String> {
        let namespace = write.object.metadata.namespace.clone().unwrap_or_default();
        let name = write.object.metadata.name.clone().unwrap_or_default();
        let key = format!("pvc/{namespace}/{name}");
        let stored = self
            .world
            .claim(&namespace, &name)
            .cloned()
            .ok_or_else(|| format!("{key} not found"))?;
        let sent = chained
            .get(&key)
            .cloned()
            .or_else(|| write.object.metadata.resource_version.clone());
        if sent != stored.metadata.resource_version {
            return Err(format!(
                "{key}: sent {sent:?}, stored {:?}",
                stored.metadata.resource_version
            ));
        }
        let mut new = if status {
            let mut new = stored.clone();
            new.status = write.object.status.clone();
            new
        } else {
            let mut new = write.object.as_ref().clone();
            new.status = stored.status.clone();
            new
        };
        let version = self.bump();
        new.metadata.resource_version = Some(version.clone());
        chained.insert(key, version);
        self.world.upsert_claim(Arc::new(new));
        Ok(())
    }

    /// Syncs one claim as stored and executes the result.
    pub fn sync_claim(
        &mut self,
        namespace: &str,
        name: &str,
        options: &SyncOptions,
    ) -> (Vec<Action>, Outcome) {
        let Some(claim) = self.world.claim(namespace, name).cloned() else {
            return (Vec::new(), Outcome::Done);
        };
        let actions = sync_claim(&claim, &self.world, options);
        let outcome = self.execute(&actions);
        (actions, outcome)
    }

    /// Syncs one PV as stored and executes the result; a live lookup is answered from the store.
    pub fn sync_volume(&mut self, name: &str) -> (Vec<Action>, Outcome) {
        let Some(volume) = self.world.volumes().get(name).cloned() else {
            return (Vec::new(), Outcome::Done);
        };
        let mut actions = sync_volume(&volume, &self.world, LiveClaim::NotFetched);
        if let [Action::LookUpClaimLive(key)] = actions.as_slice() {
            let live = self.world.claim(&key.namespace, &key.name).cloned();
            let answer = live.as_ref().map_or(LiveClaim::NotFound, LiveClaim::Found);
            actions = sync_volume(&volume, &self.world, answer);
        }
        let outcome = self.execute(&actions);
        (actions, outcome)
    }

    /// Syncs every claim, then every PV, once; returns all writes decided.
    pub fn resync_all(&mut self, options: &SyncOptions) -> Vec<Action> {
        let mut all = Vec::new();
        let claims: Vec<ClaimKey> = self
            .world
            .claims()
            .map(|claim| ClaimKey::of(claim))
            .collect();
        for key in claims {
            let (actions, _) = self.sync_claim(&key.namespace, &key.name, options);
            all.extend(actions.into_iter().filter(Action::is_write));
        }
        let volumes: Vec<String> = self
            .world
            .volumes()
            .iter()
            .filter_map(|volume| volume.metadata.name.clone())
            .collect();
        for name in volumes {
            let (actions, _) = self.sync_volume(&name);
            all.extend(actions.into_iter().filter(Action::is_write));
        }
        all
    }

    pub fn volume(&self, name: &str) -> PersistentVolume {
        self.world
            .volumes()
            .get(name)
            .map(|v| v.as_ref().clone())
            .unwrap_or_default()
    }

    pub fn claim(&self, namespace: &str, name: &str) -> PersistentVolumeClaim {
        self.world
            .claim(namespace, name)
            .cloned()
            .unwrap_or_default()
    }
}
