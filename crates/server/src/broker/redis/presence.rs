//! Presence across backends, kept in Redis with expiring entries (this backend's own
//! view is [`LocalPresence`](crate::broker::presence::LocalPresence); the broker uses it
//! alone while Redis is unreachable).
//!
//! Keys of a room share its hash tag, so one Lua script updates them atomically:
//! - `tuitalk:{ROOM}:present` — sorted set: user id → expiry (ms, Redis clock), the
//!   latest expiry of any backend holding the user there;
//! - `tuitalk:{ROOM}:present:USER` — sorted set: backend id → expiry, one entry per
//!   backend with a connection of the user in the room;
//! - `tuitalk:{ROOM}:names` — hash: user id → display name, followed for an account by
//!   U+001F and its handle ([`entry_of`]; names never hold control characters).
//!
//! A user becomes present when the first backend adds them (the script sees no live
//! backend entry), and leaves when the last live backend entry goes — either removed by
//! its backend or expired: every backend refreshes its entries every
//! `broker.presence_refresh_ms` to `now + broker.presence_expiry_ms`, and prunes expired
//! users of its rooms, publishing `user_left` for each (the script lets exactly one
//! backend win). All keys carry a TTL of twice the expiry, so rooms nobody refreshes
//! vanish from Redis.

use redis::Script;
use redis::cluster_async::ClusterConnection;
use tuitalk_protocol::Member;

use crate::broker::presence::sort_members;

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

/// The names hash's value for a member: the display name, and for an account U+001F
/// and the handle.
pub fn entry_of(member: &Member) -> String {
    match &member.handle {
        Some(handle) => format!("{}\u{1f}{handle}", member.name),
        None => member.name.clone(),
    }
}

/// The member a names hash value describes (see [`entry_of`]).
pub fn member_of(user_id: String, entry: &str) -> Member {
    let (name, handle) = match entry.split_once('\u{1f}') {
        Some((name, handle)) => (name.to_owned(), Some(handle.to_owned())),
        None => (entry.to_owned(), None),
    };
    Member {
        user_id,
        name,
        handle,
    }
}

fn names_key(room: &str) -> String {
    format!("tuitalk:{{{room}}}:names")
}

fn user_key(room: &str, user_id: &str) -> String {
    format!("tuitalk:{{{room}}}:present:{user_id}")
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

/// The Redis operations of shared presence, for one backend.
pub struct SharedPresence {
    backend: String,
    expiry_ms: u64,
    scripts: Scripts,
}

impl std::fmt::Debug for SharedPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPresence")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl SharedPresence {
    /// Presence entries of backend `backend` expiring after `expiry_ms`.
    pub fn new(backend: &str, expiry_ms: u64) -> Self {
        Self {
            backend: backend.to_owned(),
            expiry_ms,
            scripts: Scripts::new(),
        }
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
            .arg(entry_of(member))
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
                .arg(entry_of(member));
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
            if let Some(entry) = name {
                gone.push(member_of(user_id, &entry));
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
            .map(|pair| member_of(pair[0].clone(), &pair[1]))
            .collect();
        sort_members(&mut members);
        Ok(members)
    }

    /// Renames a present user in the room.
    pub async fn rename(
        &self,
        conn: &mut ClusterConnection,
        room: &str,
        member: &Member,
    ) -> redis::RedisResult<()> {
        let _: i64 = self
            .scripts
            .rename
            .key(present_key(room))
            .key(names_key(room))
            .arg(&member.user_id)
            .arg(entry_of(member))
            .invoke_async(conn)
            .await?;
        Ok(())
    }
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
}
