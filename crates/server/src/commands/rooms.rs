//! `join` and `leave`: a connection enters a room (subscription, membership, presence)
//! and resumes it from `since`, or leaves it.
//!
//! A join subscribes first and reads the room's head after (so a message stored later is
//! surely delivered live), answers `joined`, then — as its second half — announces the
//! user's presence. Messages `since + 1 ..= head` of a resume are read from the store by
//! the connection's delivery ([`crate::session`]), not by the command.

use tuitalk_protocol::{ErrorCode, Member, Seq, ServerEvent, name};

use super::{Command, Context, follow};
use crate::AppState;
use crate::error::Refusal;
use crate::hub::ConnId;
use crate::peer::Peer;
use crate::store::User;

/// `join {room, since?}`.
#[derive(Debug)]
pub struct Join {
    /// The room.
    pub room: String,
    /// The last sequence the client saw there (a resume).
    pub since: Option<Seq>,
}

/// What a join needs and what it found.
#[derive(Debug)]
pub struct Joining {
    room: String,
    since: Option<Seq>,
    /// Joined on this connection before (a repeated join).
    already: bool,
    conn: ConnId,
    user: User,
}

impl Command for Join {
    type Work = Joining;
    type Done = (Joining, Result<Seq, Refusal>);

    fn start(self, peer: &mut Peer) -> Result<Self::Work, Refusal> {
        name::validate_room(&self.room)?;
        let max_rooms = peer.state().config.limits.max_rooms as usize;
        let conn = peer.conn_id();
        let session = peer.session()?;
        let already = session.has_joined(&self.room);
        if !already && session.room_count() >= max_rooms {
            return Err(ErrorCode::TooManyRooms.into());
        }
        if !already {
            peer.state().throttles.joins.check(&session.user.user_id)?;
        }
        let session = peer.session_mut().ok_or(ErrorCode::NotAuthenticated)?;
        session.begin_join(&self.room);
        Ok(Joining {
            room: self.room,
            since: self.since,
            already,
            conn,
            user: session.user.clone(),
        })
    }

    async fn run(work: Self::Work, state: AppState) -> Self::Done {
        let rooms = &state.subscriptions;
        if !work.already {
            if let Err(refusal) = admit_member(&state, &work.user.user_id, &work.room).await {
                return (work, Err(refusal));
            }
            rooms.enter(work.conn, &work.room).await;
        }
        let head = state.store.join(&work.user.user_id, &work.room).await;
        if head.is_err() && !work.already {
            rooms.exit(work.conn, &work.user.user_id, &work.room).await;
        }
        (work, head.map_err(Refusal::from))
    }

    fn finish((work, head): Self::Done, peer: &mut Peer) -> Result<(), Refusal> {
        let Some(session) = peer.session_mut() else {
            return Ok(());
        };
        let head = match head {
            Ok(head) => head,
            Err(refusal) => {
                session.abandon_join(&work.room);
                return Err(refusal);
            }
        };
        session.joined(&work.room, work.since, head);
        tracing::debug!(room = work.room, head, since = work.since, "joined");
        peer.send(&ServerEvent::Joined {
            room: work.room.clone(),
            head,
        });
        if !work.already {
            let state = peer.state().clone();
            let member = Member {
                user_id: work.user.user_id,
                name: work.user.name,
                handle: work.user.handle,
            };
            let announce = async move {
                let rooms = &state.subscriptions;
                rooms.announce(work.conn, member, &work.room).await;
            };
            peer.then(follow(announce, Context::default(), |(), _| Ok(())));
        }
        Ok(())
    }
}

/// Whether `user_id` may become a member of `room` (or already is one): below
/// `limits.max_memberships` stored memberships (`too_many_rooms`), and — when the room
/// does not exist yet and this creates it — within `limits.rooms_created_per_hour`
/// (`rate_limited`). Also the REST API's check before a post makes its author a member.
pub async fn admit_member(state: &AppState, user_id: &str, room: &str) -> Result<(), Refusal> {
    let memberships = state.store.rooms_of(user_id).await?;
    if memberships.iter().any(|joined| joined == room) {
        return Ok(());
    }
    let max = state.config.limits.max_memberships as usize;
    if memberships.len() >= max {
        state.throttles.refused("memberships_per_identity");
        return Err(Refusal::new(
            ErrorCode::TooManyRooms,
            format!("member of {max} rooms already: leave one first"),
        ));
    }
    if state.store.heads(&[room.to_owned()]).await?.is_empty() {
        state.throttles.rooms_created.check(&user_id.to_owned())?;
    }
    Ok(())
}

/// `leave {room}`.
#[derive(Debug)]
pub struct Leave {
    /// The room (joined on this connection).
    pub room: String,
}

impl Command for Leave {
    type Work = (String, ConnId, String);
    type Done = (String, Result<(), Refusal>);

    fn start(self, peer: &mut Peer) -> Result<Self::Work, Refusal> {
        let user_id = peer.joined(&self.room)?.user.user_id.clone();
        Ok((self.room, peer.conn_id(), user_id))
    }

    async fn run((room, conn, user_id): Self::Work, state: AppState) -> Self::Done {
        if let Err(err) = state.store.leave(&user_id, &room).await {
            return (room, Err(err.into()));
        }
        state.subscriptions.exit(conn, &user_id, &room).await;
        (room, Ok(()))
    }

    fn finish((room, left): Self::Done, peer: &mut Peer) -> Result<(), Refusal> {
        left?;
        if let Some(session) = peer.session_mut() {
            session.remove(&room);
        }
        tracing::debug!(room, "left");
        peer.send(&ServerEvent::Left { room });
        Ok(())
    }
}
