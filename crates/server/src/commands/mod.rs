//! The protocol's commands, one module per command family, each with its validation and
//! its effect: [`identity`] (`hello`, `name`), [`rooms`] (`join`, `leave`), [`posts`]
//! (`post`), [`history`] (`history`), [`presence`] (`who`), [`ping`] (`ping`).
//!
//! Every command goes through the one narrow interface [`Command`], in three steps:
//! 1. [`Command::start`] on the connection's task: checks the command against the
//!    connection ([`Peer`]: session, joined rooms, rate) and takes what the work needs;
//! 2. [`Command::run`], the store and broker work, as a future that sees only the shared
//!    state: the connection keeps delivering its room events while it runs, so a slow
//!    store makes slow answers, never a slow consumer;
//! 3. [`Command::finish`] back on the connection's task: changes the session and queues
//!    the answers (or the refusal).
//!
//! One command runs at a time per connection (the transport reads the next frame once it
//! finished), except that posts are pipelined: a post's run only queues it at the group
//! committer, and its ack follows when the commit is done. The REST API ([`crate::rest`])
//! calls the same validation and `run` steps. Adding a command means a variant in the
//! protocol crate, a module here with its `Command` impl, one arm in [`start`], and its
//! section in docs/protocol.md.

pub mod history;
pub mod identity;
pub mod ping;
pub mod posts;
pub mod presence;
pub mod rooms;

use std::future::Future;
use std::pin::Pin;

use tuitalk_protocol::{ClientCommand, ErrorCode};

use crate::AppState;
use crate::error::Refusal;
use crate::peer::Peer;

/// What finishes a command on the connection's task.
pub type Finish = Box<dyn FnOnce(&mut Peer) + Send>;

/// A command's work in flight: resolves to its [`Finish`].
pub type InFlight = Pin<Box<dyn Future<Output = Finish> + Send>>;

/// One command of the protocol.
pub trait Command: Sized + Send + 'static {
    /// What the work needs, taken from the connection by [`start`](Self::start).
    type Work: Send + 'static;
    /// The work's outcome, handed to [`finish`](Self::finish).
    type Done: Send + 'static;

    /// Checks the command against the connection and prepares the work; a refusal ends
    /// the command at once.
    fn start(self, peer: &mut Peer) -> Result<Self::Work, Refusal>;

    /// The store and broker work. Runs while the connection keeps delivering.
    fn run(work: Self::Work, state: AppState) -> impl Future<Output = Self::Done> + Send;

    /// Applies the outcome to the connection: session changes and answers. A refusal
    /// returned here is sent as the command's `error`.
    fn finish(done: Self::Done, peer: &mut Peer) -> Result<(), Refusal>;
}

/// The context of a command, copied into its `error` event.
#[derive(Debug, Default, Clone)]
pub struct Context {
    /// The command's `type`.
    pub command: Option<&'static str>,
    /// The room it named.
    pub room: Option<String>,
    /// The post id of a `post`.
    pub id: Option<String>,
}

impl Context {
    /// The context of `command`.
    pub fn of(command: &ClientCommand) -> Self {
        let (room, id) = match command {
            ClientCommand::Join { room, .. }
            | ClientCommand::Leave { room }
            | ClientCommand::History { room, .. }
            | ClientCommand::Who { room } => (Some(room.clone()), None),
            ClientCommand::Post { room, id, .. } => (Some(room.clone()), Some(id.clone())),
            _ => (None, None),
        };
        Self {
            command: Some(command.kind()),
            room,
            id,
        }
    }
}

/// How a command started.
pub enum Started {
    /// Its work runs; poll it and apply its [`Finish`].
    Running(InFlight),
    /// Refused before any work (already answered on the peer).
    Refused,
    /// Refused as a protocol violation (`not_authenticated`, `already_authenticated`):
    /// answered on the peer; the transport counts it towards `max_errors_per_minute`.
    Violation,
}

/// Starts a decoded command on the connection.
pub fn start(command: ClientCommand, peer: &mut Peer) -> Started {
    let context = Context::of(&command);
    let authenticated = peer.session().is_ok();
    match command {
        ClientCommand::Hello {
            version,
            token,
            name,
        } if !authenticated => begin(
            identity::Hello {
                version,
                token,
                name,
            },
            context,
            peer,
        ),
        ClientCommand::Hello { .. } => {
            let refusal = Refusal::new(ErrorCode::AlreadyAuthenticated, "hello was already sent");
            peer.refuse(&context, refusal);
            Started::Violation
        }
        _ if !authenticated => {
            let refusal = Refusal::new(ErrorCode::NotAuthenticated, "send hello first");
            peer.refuse(&context, refusal);
            Started::Violation
        }
        ClientCommand::Ping { nonce } => begin(ping::Ping { nonce }, context, peer),
        ClientCommand::Join { room, since } => begin(rooms::Join { room, since }, context, peer),
        ClientCommand::Leave { room } => begin(rooms::Leave { room }, context, peer),
        ClientCommand::Post { room, id, text } => {
            begin(posts::Post { room, id, text }, context, peer)
        }
        ClientCommand::Name { name } => begin(identity::Rename { name }, context, peer),
        ClientCommand::History {
            room,
            before,
            limit,
        } => begin(
            history::History {
                room,
                before,
                limit,
            },
            context,
            peer,
        ),
        ClientCommand::Who { room } => begin(presence::Who { room }, context, peer),
    }
}

/// Starts any [`Command`]: `start` now, `run` as the returned future, `finish` when it
/// resolves.
fn begin<C: Command>(command: C, context: Context, peer: &mut Peer) -> Started {
    let work = match command.start(peer) {
        Ok(work) => work,
        Err(refusal) => {
            peer.refuse(&context, refusal);
            return Started::Refused;
        }
    };
    Started::Running(follow(
        C::run(work, peer.state().clone()),
        context,
        C::finish,
    ))
}

/// A future of `work` whose outcome `finish` applies, its refusal answered with
/// `context`. Also for a command's second half ([`Peer::then`]).
pub fn follow<D: Send + 'static>(
    work: impl Future<Output = D> + Send + 'static,
    context: Context,
    finish: fn(D, &mut Peer) -> Result<(), Refusal>,
) -> InFlight {
    Box::pin(async move {
        let done = work.await;
        Box::new(move |peer: &mut Peer| {
            if let Err(refusal) = finish(done, peer) {
                peer.refuse(&context, refusal);
            }
        }) as Finish
    })
}
