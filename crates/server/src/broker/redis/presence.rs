//! Presence across backends, kept in Redis with expiring entries, plus this backend's
//! local view (used alone while Redis is unreachable).
//!
//! Keys of a room share its hash tag, so one Lua script updates them atomically:
//! - `tuitalk:{ROOM}:present` — sorted set: user id → expiry (ms, Redis clock), the
//!   latest expiry of any backend holding the user there;
//! - `tuitalk:{ROOM}:present:USER` — sorted set: backend id → expiry, one entry per
//!   backend with a connection of the user in the room;
//! - `tuitalk:{ROOM}:names` — hash: user id → display name.
//!
//! A user becomes present when the first backend adds them (the script sees no live
//! backend entry), and leaves when the last live backend entry goes — either removed by
//! its backend or expired: every backend refreshes its entries every
//! `broker.presence_refresh_ms` to `now + broker.presence_expiry_ms`, and prunes expired
//! users of its rooms, publishing `user_left` for each (the script lets exactly one
//! backend win). All keys carry a TTL of twice the expiry, so rooms nobody refreshes
//! vanish from Redis.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use redis::Script;
use redis::cluster_async::ClusterConnection;
use tuitalk_protocol::Member;

use crate::hub::ConnId;

/// The current time in milliseconds on the Redis server (every backend uses its clock).
const NOW: &str = "local t = redis.call('TIME')\n\
                   local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// KEYS: present, names, user key. ARGV: user id, backend, name, expiry ms.
/// Returns 1 when the user had no live backend entry (just became present).
const ADD: &str = "
local ttl = tonumber(ARGV[4])
local exp = now + ttl
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local first = redis.call('ZCARD', KEYS[3]) == 0
redis.call('ZADD', KEYS[3], exp, ARGV[2])
redis.call('ZADD', KEYS[1], 'GT', exp, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl * 2) end
if first then return 1 else return 0 end
";

/// KEYS: present, names, user key. ARGV: user id, backend. Returns the user's name when
/// this was their last live backend entry (they left), nil otherwise.
const REMOVE: &str = "
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) > 0 then return false end
redis.call('DEL', KEYS[3])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
local name = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return name or ''
";

/// KEYS: present, names, then one user key per user. ARGV: backend, expiry ms, then
/// user id and name per user. Returns the users that were absent (pruned while this
/// backend could not refresh them).
const REFRESH: &str = "
local ttl = tonumber(ARGV[2])
local exp = now + ttl
local back = {}
for i = 3, #KEYS do
  local uid = ARGV[2 * i - 3]
  if not redis.call('ZSCORE', KEYS[1], uid) then table.insert(back, uid) end
  redis.call('ZADD', KEYS[i], exp, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ttl * 2)
  redis.call('ZADD', KEYS[1], 'GT', exp, uid)
  redis.call('HSET', KEYS[2], uid, ARGV[2 * i - 2])
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
redis.call('PEXPIRE', KEYS[2], ttl * 2)
return back
";

/// KEYS: present. ARGV: most candidates. The users whose expiry passed.
const EXPIRED: &str = "
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
";

/// KEYS: present, names, user key. ARGV: user id. Removes the user when no backend
/// entry is live; returns their name then (nil when still present or already gone).
const PRUNE: &str = "
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return false end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local live = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
if #live > 0 then
  redis.call('ZADD', KEYS[1], 'GT', live[2], ARGV[1])
  return false
end
if tonumber(score) > now then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
local name = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return name or ''
";

/// KEYS: present, names. Returns user id, name, user id, name, ... of live users.
const WHO: &str = "
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
if #ids == 0 then return {} end
local names = redis.call('HMGET', KEYS[2], unpack(ids))
local out = {}
for i, id in ipairs(ids) do
  if names[i] then
    table.insert(out, id)
    table.insert(out, names[i])
  end
end
return out
";

/// KEYS: present, names. ARGV: user id, name. Renames a present user.
const RENAME: &str = "
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1
";

/// The most expired users one prune handles per room (the rest at the next refresh).
const PRUNE_BATCH: u32 = 100;

fn present_key(room: &str) -> String {
    format!("tuitalk:{{{room}}}:present")
}

fn names_key(room: &str) -> String {
    format!("tuitalk:{{{room}}}:names")
}

fn user_key(room: &str, user_id: &str) -> String {
    format!("tuitalk:{{{room}}}:present:{user_id}")
}

/// One user's local presence in one room.
#[derive(Debug)]
struct Present {
    name: String,
    conns: HashSet<ConnId>,
}

/// The compiled scripts.
struct Scripts {
    add: Script,
    remove: Script,
    refresh: Script,
    expired: Script,
    prune: Script,
    who: Script,
    rename: Script,
}

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{NOW}{body}"));
        Self {
            add: script(ADD),
            remove: script(REMOVE),
            refresh: script(REFRESH),
            expired: script(EXPIRED),
            prune: script(PRUNE),
            who: script(WHO),
            rename: script(RENAME),
        }
    }
}

/// Presence: the local view and the Redis operations on it.
pub struct Presence {
    backend: String,
    expiry_ms: u64,
    /// room → user id → local presence.
    local: Mutex<HashMap<String, BTreeMap<String, Present>>>,
    scripts: Scripts,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The outcome of changing the local view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalChange {
    /// The user's first (or last) local connection in the room: Redis must be asked.
    Edge,
    /// Nothing changes across backends.
    Inside,
}

impl Presence {
    /// Presence entries of backend `backend` expiring after `expiry_ms`.
    pub fn new(backend: &str, expiry_ms: u64) -> Self {
        Self {
            backend: backend.to_owned(),
            expiry_ms,
            local: Mutex::new(HashMap::new()),
            scripts: Scripts::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, BTreeMap<String, Present>>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds the connection to the local view; `Edge` when it is the user's first local
    /// connection in the room.
    pub fn add_local(&self, room: &str, member: &Member, conn: ConnId) -> LocalChange {
        let mut rooms = self.lock();
        let present = rooms
            .entry(room.to_owned())
            .or_default()
            .entry(member.user_id.clone())
            .or_insert_with(|| Present {
                name: member.name.clone(),
                conns: HashSet::new(),
            });
        let first = present.conns.is_empty();
        present.conns.insert(conn);
        if first {
            LocalChange::Edge
        } else {
            LocalChange::Inside
        }
    }

    /// Removes the connection from the local view; the member when it was the user's
    /// last local connection in the room.
    pub fn remove_local(&self, room: &str, user_id: &str, conn: ConnId) -> Option<Member> {
        let mut rooms = self.lock();
        let users = rooms.get_mut(room)?;
        let present = users.get_mut(user_id)?;
        if !present.conns.remove(&conn) || !present.conns.is_empty() {
            return None;
        }
        let name = present.name.clone();
        users.remove(user_id);
        if users.is_empty() {
            rooms.remove(room);
        }
        Some(Member {
            user_id: user_id.to_owned(),
            name,
        })
    }

    /// Renames the user in the local view; returns the rooms they are present in here.
    pub fn rename_local(&self, user_id: &str, name: &str) -> Vec<String> {
        let mut rooms = self.lock();
        let mut found = Vec::new();
        for (room, users) in rooms.iter_mut() {
            if let Some(present) = users.get_mut(user_id) {
                present.name = name.to_owned();
                found.push(room.clone());
            }
        }
        found
    }

    /// The users present in the room on this backend, by name then id.
    pub fn local_members(&self, room: &str) -> Vec<Member> {
        let rooms = self.lock();
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
        sort_members(&mut members);
        members
    }

    /// Every room with local users, and those users.
    pub fn local_snapshot(&self) -> Vec<(String, Vec<Member>)> {
        self.lock()
            .iter()
            .map(|(room, users)| {
                let members = users
                    .iter()
                    .map(|(user_id, present)| Member {
                        user_id: user_id.clone(),
                        name: present.name.clone(),
                    })
                    .collect();
                (room.clone(), members)
            })
            .collect()
    }

    /// Records the user's presence from this backend in Redis; whether they just became
    /// present across all backends.
    pub async fn add(
        &self,
        conn: &mut ClusterConnection,
        room: &str,
        member: &Member,
    ) -> redis::RedisResult<bool> {
        let first: i64 = self
            .scripts
            .add
            .key(present_key(room))
            .key(names_key(room))
            .key(user_key(room, &member.user_id))
            .arg(&member.user_id)
            .arg(&self.backend)
            .arg(&member.name)
            .arg(self.expiry_ms)
            .invoke_async(conn)
            .await?;
        Ok(first == 1)
    }

    /// Removes this backend's entry of the user; their name when no backend holds them
    /// any more (they left).
    pub async fn remove(
        &self,
        conn: &mut ClusterConnection,
        room: &str,
        user_id: &str,
    ) -> redis::RedisResult<Option<String>> {
        self.scripts
            .remove
            .key(present_key(room))
            .key(names_key(room))
            .key(user_key(room, user_id))
            .arg(user_id)
            .arg(&self.backend)
            .invoke_async(conn)
            .await
    }

    /// Extends this backend's entries of the room's local users; returns the users that
    /// were absent from Redis (to announce again).
    pub async fn refresh(
        &self,
        conn: &mut ClusterConnection,
        room: &str,
        members: &[Member],
    ) -> redis::RedisResult<Vec<String>> {
        let mut invocation = self.scripts.refresh.prepare_invoke();
        invocation
            .key(present_key(room))
            .key(names_key(room))
            .arg(&self.backend)
            .arg(self.expiry_ms);
        for member in members {
            invocation
                .key(user_key(room, &member.user_id))
                .arg(&member.user_id)
                .arg(&member.name);
        }
        invocation.invoke_async(conn).await
    }

    /// Removes the room's users whose every backend entry expired; returns them (this
    /// backend announces their leaving).
    pub async fn prune(
        &self,
        conn: &mut ClusterConnection,
        room: &str,
    ) -> redis::RedisResult<Vec<Member>> {
        let candidates: Vec<String> = self
            .scripts
            .expired
            .key(present_key(room))
            .arg(PRUNE_BATCH)
            .invoke_async(conn)
            .await?;
        let mut gone = Vec::new();
        for user_id in candidates {
            let name: Option<String> = self
                .scripts
                .prune
                .key(present_key(room))
                .key(names_key(room))
                .key(user_key(room, &user_id))
                .arg(&user_id)
                .invoke_async(conn)
                .await?;
            if let Some(name) = name {
                gone.push(Member { user_id, name });
            }
        }
        Ok(gone)
    }

    /// The users present in the room across all backends, by name then id.
    pub async fn members(
        &self,
        conn: &mut ClusterConnection,
        room: &str,
    ) -> redis::RedisResult<Vec<Member>> {
        let flat: Vec<String> = self
            .scripts
            .who
            .key(present_key(room))
            .key(names_key(room))
            .invoke_async(conn)
            .await?;
        let mut members: Vec<Member> = flat
            .chunks_exact(2)
            .map(|pair| Member {
                user_id: pair[0].clone(),
                name: pair[1].clone(),
            })
            .collect();
        sort_members(&mut members);
        Ok(members)
    }

    /// Renames a present user in the room.
    pub async fn rename(
        &self,
        conn: &mut ClusterConnection,
        room: &str,
        user_id: &str,
        name: &str,
    ) -> redis::RedisResult<()> {
        let _: i64 = self
            .scripts
            .rename
            .key(present_key(room))
            .key(names_key(room))
            .arg(user_id)
            .arg(name)
            .invoke_async(conn)
            .await?;
        Ok(())
    }
}

fn sort_members(members: &mut [Member]) {
    members.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.user_id.cmp(&b.user_id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_room_hash_tag() {
        assert_eq!(present_key("r-1"), "tuitalk:{r-1}:present");
        assert_eq!(user_key("r-1", "u"), "tuitalk:{r-1}:present:u");
        assert_eq!(names_key("r-1"), "tuitalk:{r-1}:names");
    }

    #[test]
    fn local_view_counts_connections() {
        let presence = Presence::new("b", 1000);
        let ada = Member {
            user_id: "u1".into(),
            name: "ada".into(),
        };
        assert_eq!(presence.add_local("r", &ada, 1), LocalChange::Edge);
        assert_eq!(presence.add_local("r", &ada, 2), LocalChange::Inside);
        assert_eq!(presence.remove_local("r", "u1", 1), None);
        assert_eq!(presence.rename_local("u1", "grace"), vec!["r".to_owned()]);
        assert_eq!(
            presence.remove_local("r", "u1", 2).map(|m| m.name),
            Some("grace".to_owned())
        );
        assert!(presence.local_members("r").is_empty());
        assert!(presence.local_snapshot().is_empty());
    }
}
