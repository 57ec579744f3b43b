//! `hello` and `name`: who a connection is. `hello` resumes an identity from its session
//! token or creates a guest, and answers `welcome`; `name` changes the display name,
//! announced by `name_changed`, unless a user present in one of the user's rooms already
//! has a look-alike name (`name_taken`). Token resolution and guest creation also serve
//! the REST API.
//!
//! A `hello` with a name creates a new guest, who is in no room yet: there is nobody its
//! name could be taken from, so only `name` runs the look-alike check. Joining a room
//! never refuses (a squatter could otherwise lock the real user out); clients mark
//! look-alike members instead.

use tuitalk_protocol::skeleton::NameKey;
use tuitalk_protocol::{CloseCode, ErrorCode, PROTOCOL_VERSION, ServerEvent, name};

use super::Command;
use crate::AppState;
use crate::auth::Resolved;
use crate::error::Refusal;
use crate::hub::LiveSession;
use crate::peer::Peer;
use crate::store::User;
use crate::store::accounts::{Profile, Role};

/// `hello {version, token?, name?}`.
#[derive(Debug)]
pub struct Hello {
    /// The client's protocol version.
    pub version: u32,
    /// A session token to resume.
    pub token: Option<String>,
    /// The name wanted for a new guest.
    pub name: Option<String>,
}

/// The session found or made, and its identity's rooms.
pub type Welcomed = Result<(Resolved, Vec<String>), Refusal>;

impl Command for Hello {
    type Work = (Option<String>, Option<String>);
    type Done = Welcomed;

    fn start(self, peer: &mut Peer) -> Result<Self::Work, Refusal> {
        if self.version != PROTOCOL_VERSION {
            peer.state().metrics.hello_failures.inc();
            peer.close_after(CloseCode::HELLO_FAILED, "unsupported_version");
            return Err(Refusal::new(
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol version {PROTOCOL_VERSION}"),
            ));
        }
        let throttles = &peer.state().throttles;
        let address = peer.address();
        let admitted = throttles
            .sessions
            .check(&address)
            .and_then(|()| match self.token {
                Some(_) => Ok(()),
                None => throttles.guests.check(&address),
            });
        if let Err(refusal) = admitted {
            // The client reconnects after its backoff; a hello refused here leaves
            // nothing behind.
            peer.close_after(CloseCode::TRY_AGAIN_LATER, "rate_limited");
            return Err(refusal);
        }
        Ok((self.token, self.name))
    }

    async fn run((token, wanted): Self::Work, state: AppState) -> Self::Done {
        let resolved = match token {
            Some(token) => state.auth.resolve(&*state.store, &token, true).await?,
            None => guest_session(&state, wanted, GUEST_LABEL).await?,
        };
        let rooms = state.store.rooms_of(&resolved.profile.user.user_id).await?;
        Ok((resolved, rooms))
    }

    fn finish(done: Self::Done, peer: &mut Peer) -> Result<(), Refusal> {
        let (resolved, rooms) = match done {
            Ok(found) => found,
            Err(refusal) => {
                if refusal.code == ErrorCode::InvalidToken {
                    peer.state().metrics.hello_failures.inc();
                    peer.close_after(CloseCode::HELLO_FAILED, "invalid_token");
                }
                return Err(refusal);
            }
        };
        let Resolved {
            session,
            profile,
            token,
        } = resolved;
        let user = profile.user.clone();
        let Some(place) = peer
            .state()
            .throttles
            .ws_by_identity
            .try_take(user.user_id.clone())
        else {
            peer.state().throttles.refused("connections_per_identity");
            peer.close_after(CloseCode::TRY_AGAIN_LATER, "too many connections");
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                "this identity has too many connections open",
            ));
        };
        tracing::Span::current().record("user_id", user.user_id.as_str());
        tracing::info!(name = %user.name, "hello");
        let state = peer.state().clone();
        let welcome = ServerEvent::Welcome {
            version: PROTOCOL_VERSION,
            user_id: user.user_id.clone(),
            name: user.name.clone(),
            guest: profile.is_guest(),
            handle: user.handle.clone(),
            email_verified: (!profile.is_guest()).then_some(profile.email_verified),
            session_id: session.session_id.clone(),
            token,
            rooms,
            limits: state.config.protocol_limits(),
        };
        let live = LiveSession {
            session_id: session.session_id,
            expires_at: session.expires_at,
            end: peer.session_end(),
        };
        peer.register(user, place, live);
        peer.send(&welcome);
        Ok(())
    }
}

/// `name {name}`.
#[derive(Debug)]
pub struct Rename {
    /// The new display name.
    pub name: String,
}

/// What a rename needs: the user, the rooms joined here, the new name.
#[derive(Debug)]
pub struct Renaming {
    user: User,
    joined: Vec<String>,
    name: String,
}

impl Command for Rename {
    type Work = Renaming;
    type Done = Result<String, Refusal>;

    fn start(self, peer: &mut Peer) -> Result<Self::Work, Refusal> {
        let max = peer.state().config.limits.max_name_chars as usize;
        name::validate_display_name(&self.name, max)?;
        let session = peer.session()?;
        peer.state()
            .throttles
            .renames
            .check(&session.user.user_id)?;
        Ok(Renaming {
            user: session.user.clone(),
            joined: session.rooms().cloned().collect(),
            name: self.name,
        })
    }

    async fn run(work: Self::Work, state: AppState) -> Self::Done {
        rename_user(&state, &work.user, work.joined, work.name).await
    }

    fn finish(done: Self::Done, peer: &mut Peer) -> Result<(), Refusal> {
        let name = done?;
        if let Some(session) = peer.session_mut() {
            session.user.name = name;
        }
        Ok(())
    }
}

/// Renames `user` to the (validated) `name`: refused with `name_taken` when a user present
/// in one of the user's rooms (its memberships and `joined`, the rooms joined on the
/// asking connection) has a look-alike name; announced by `name_changed` to everyone
/// there and the user's own connections. Returns the new name.
pub async fn rename_user(
    state: &AppState,
    user: &User,
    joined: Vec<String>,
    name: String,
) -> Result<String, Refusal> {
    let user_id = user.user_id.clone();
    // The rooms the user is a member of, or has joined here: everyone present there must
    // not already go by a look-alike name, and everyone there hears the change.
    let mut rooms = match state.store.rooms_of(&user_id).await {
        Ok(rooms) => rooms,
        Err(err) => {
            tracing::warn!(error = %err, "cannot list the user's rooms");
            Vec::new()
        }
    };
    rooms.extend(joined);
    rooms.sort();
    rooms.dedup();
    check_name_free(state, &user_id, &name, &rooms).await?;
    let Some(old_name) = state.store.rename(&user_id, &name).await? else {
        // The session's user is stored before its session: it cannot be missing.
        return Err(Refusal::internal());
    };
    let member = tuitalk_protocol::Member {
        user_id: user_id.clone(),
        name: name.clone(),
        handle: user.handle.clone(),
    };
    state.broker.presence_rename(&member).await;
    tracing::info!(old_name, name = %name, "renamed");
    state.broker.publish(ServerEvent::NameChanged {
        user_id,
        old_name,
        name: name.clone(),
        rooms,
    });
    Ok(name)
}

/// Refuses `name` for `user_id` when another user present in one of `rooms` (asked of
/// the broker, so a cluster sees every backend's presence) has a name that looks like it
/// ([`NameKey::looks_like`]: the same case-insensitive or case-sensitive UTS #39
/// skeleton). The user's own presence does not count. Error: `name_taken`.
///
/// The check and the rename are not atomic: two users renaming to look-alike names at
/// the same moment may both succeed (clients still mark them, see docs/security.md).
pub async fn check_name_free(
    state: &AppState,
    user_id: &str,
    name: &str,
    rooms: &[String],
) -> Result<(), Refusal> {
    let key = NameKey::new(name);
    for room in rooms {
        let members = state.broker.presence(room).await;
        let taken = members
            .iter()
            .any(|member| member.user_id != user_id && key.looks_like(&NameKey::new(&member.name)));
        if taken {
            tracing::debug!(room, name, "name refused: a present user looks alike");
            return Err(Refusal::new(
                ErrorCode::NameTaken,
                format!("someone in #{room} already has a name that looks like this one"),
            ));
        }
    }
    Ok(())
}

/// The label of a guest session made by `hello` (clients may rename it).
const GUEST_LABEL: &str = "guest";

/// A new guest named `wanted` (see [`create_guest`]) and its first session, labelled
/// `label`.
pub async fn guest_session(
    state: &AppState,
    wanted: Option<String>,
    label: &str,
) -> Result<Resolved, Refusal> {
    let user = create_guest(state, wanted).await?;
    let (session, token) = state
        .auth
        .start_session(&*state.store, &user.user_id, label)
        .await?;
    let profile = Profile {
        user,
        email: None,
        email_verified: false,
        role: Role::Member,
        disabled: false,
        created_at: session.created_at,
    };
    Ok(Resolved {
        session,
        profile,
        token,
    })
}

/// Creates a guest identity named `wanted` (validated against `limits.max_name_chars`),
/// or `guest-xxxx` when no name is given. Errors: `invalid_name`, `unavailable`.
pub async fn create_guest(state: &AppState, wanted: Option<String>) -> Result<User, Refusal> {
    let max = state.config.limits.max_name_chars as usize;
    let display = match wanted {
        Some(wanted) => {
            name::validate_display_name(&wanted, max)?;
            wanted
        }
        None => format!("guest-{}", &uuid::Uuid::new_v4().simple().to_string()[..4]),
    };
    Ok(state.store.create_guest(&display).await?)
}
