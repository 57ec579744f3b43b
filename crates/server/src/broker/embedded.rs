//! The in-process broker of the single-server default: events go straight to this
//! process's [`Hub`], presence lives in a map. Nothing is lost or duplicated here, but the
//! delivery side does not rely on that.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tuitalk_protocol::Member;

use super::{Broker, BrokerError, BrokerEvent};
use crate::hub::{ConnId, Hub};

/// One user's presence in one room.
#[derive(Debug)]
struct Present {
    name: String,
    conns: HashSet<ConnId>,
}

/// The in-process [`Broker`].
#[derive(Debug)]
pub struct EmbeddedBroker {
    hub: Arc<Hub>,
    /// room → user id → presence.
    presence: Mutex<HashMap<String, BTreeMap<String, Present>>>,
}

impl EmbeddedBroker {
    /// A broker delivering to `hub`.
    pub fn new(hub: Arc<Hub>) -> Self {
        Self {
            hub,
            presence: Mutex::new(HashMap::new()),
        }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<String, Present>>> {
        self.presence.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Broker for EmbeddedBroker {
    async fn ping(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    async fn publish(&self, event: BrokerEvent) -> Result<(), BrokerError> {
        // Every local subscription is in the hub already; it drops rooms nobody joined.
        self.hub.dispatch(&event);
        Ok(())
    }

    async fn subscribe(&self, _room: &str) -> Result<(), BrokerError> {
        Ok(())
    }

    async fn unsubscribe(&self, _room: &str) -> Result<(), BrokerError> {
        Ok(())
    }

    async fn presence_add(
        &self,
        room: &str,
        member: &Member,
        conn: ConnId,
    ) -> Result<bool, BrokerError> {
        let mut rooms = self.rooms();
        let users = rooms.entry(room.to_owned()).or_default();
        let present = users
            .entry(member.user_id.clone())
            .or_insert_with(|| Present {
                name: member.name.clone(),
                conns: HashSet::new(),
            });
        let first = present.conns.is_empty();
        present.conns.insert(conn);
        Ok(first)
    }

    async fn presence_remove(
        &self,
        room: &str,
        user_id: &str,
        conn: ConnId,
    ) -> Result<Option<Member>, BrokerError> {
        let mut rooms = self.rooms();
        let Some(users) = rooms.get_mut(room) else {
            return Ok(None);
        };
        let Some(present) = users.get_mut(user_id) else {
            return Ok(None);
        };
        if !present.conns.remove(&conn) || !present.conns.is_empty() {
            return Ok(None);
        }
        let name = present.name.clone();
        users.remove(user_id);
        if users.is_empty() {
            rooms.remove(room);
        }
        Ok(Some(Member {
            user_id: user_id.to_owned(),
            name,
        }))
    }

    async fn presence_rename(&self, user_id: &str, name: &str) -> Result<(), BrokerError> {
        for users in self.rooms().values_mut() {
            if let Some(present) = users.get_mut(user_id) {
                present.name = name.to_owned();
            }
        }
        Ok(())
    }

    async fn presence(&self, room: &str) -> Result<Vec<Member>, BrokerError> {
        let rooms = self.rooms();
        let mut members: Vec<Member> = rooms
            .get(room)
            .map(|users| {
                users
                    .iter()
                    .map(|(user_id, present)| Member {
                        user_id: user_id.clone(),
                        name: present.name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        members.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.user_id.cmp(&b.user_id)));
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn presence_counts_connections_per_user() {
        let broker = EmbeddedBroker::new(Arc::new(Hub::new()));
        let bob = Member {
            user_id: "u2".into(),
            name: "bob".into(),
        };
        let ada = Member {
            user_id: "u1".into(),
            name: "ada".into(),
        };
        assert!(broker.presence_add("r", &bob, 1).await.expect("add"));
        assert!(!broker.presence_add("r", &bob, 2).await.expect("add"));
        assert!(broker.presence_add("r", &ada, 3).await.expect("add"));
        let names: Vec<_> = broker
            .presence("r")
            .await
            .expect("who")
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, vec!["ada", "bob"]);
        assert_eq!(
            broker.presence_remove("r", "u2", 1).await.expect("rm"),
            None
        );
        broker
            .presence_rename("u2", "robert")
            .await
            .expect("rename");
        let left = broker.presence_remove("r", "u2", 2).await.expect("rm");
        assert_eq!(left.map(|m| m.name).as_deref(), Some("robert"));
        assert_eq!(broker.presence("r").await.expect("who").len(), 1);
    }
}
