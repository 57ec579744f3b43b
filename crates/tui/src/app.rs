//! The run loop: terminal events, network events, API answers and a clock tick feed the
//! update function; effects go to the network task or become REST calls (one task
//! each); the saved session follows the identity; the view is redrawn after each batch.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tuitalk_client::{Client, Config};

use crate::api;
use crate::cli::Cli;
use crate::http::Server;
use crate::model::Model;
use crate::net;
use crate::tokens::{Keeper, TokenStore};
use crate::update::{self, Effect, Msg};
use crate::view;

/// How often the clock ticks (reconnect countdown, post retries).
const TICK: Duration = Duration::from_millis(250);
/// How long to wait for the network task to send its close frame on quit.
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// Capacity of the network → UI channel.
const EVENTS_CAPACITY: usize = 1024;
/// Capacity of the API answers → UI channel (calls are made one per command).
const API_CAPACITY: usize = 16;

/// Runs the UI until the user quits.
pub async fn run(terminal: &mut DefaultTerminal, cli: Cli) -> anyhow::Result<()> {
    let (events_tx, mut events_rx) = mpsc::channel(EVENTS_CAPACITY);
    let (commands, net_task) = net::spawn(cli.url.clone(), events_tx);
    let clock = Instant::now();
    let now = || u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let config = Config {
        name: cli.name.clone(),
        ..Config::default()
    };
    let mut model = Model::new(Client::new(config, seed()));
    let (api_tx, mut api_rx) = mpsc::channel(API_CAPACITY);
    let server = Server::parse(&cli.url);
    model.server = server.as_ref().ok().cloned();
    let (mut keeper, problem) = match (&server, cli.guest) {
        (_, true) => (None, None),
        (Ok(server), false) => open_keeper(server, &mut model.client),
        (Err(err), false) => (None, Some(format!("sessions are not saved: {err}"))),
    };
    let mut effects = update::start(&mut model, now());
    if cli.guest {
        model.info("--guest: a new guest; this session will not be saved");
    }
    if let Some(problem) = problem {
        model.error(problem);
    }
    for room in &cli.rooms {
        effects.extend(update::submit(&mut model, &format!("/room {room}"), now()));
    }
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'run: loop {
        for effect in effects.drain(..) {
            match effect {
                Effect::Net(command) => {
                    // The task only ends when this sender is dropped.
                    let _ = commands.send(command);
                }
                Effect::Api { step, call } => {
                    let Some(server) = model.server.clone() else {
                        continue;
                    };
                    let answers = api_tx.clone();
                    // Ends by itself: every request has a timeout.
                    tokio::spawn(async move {
                        let result = api::execute(&server, call).await;
                        let _ = answers.send(Msg::Api { step, result }).await;
                    });
                }
                Effect::Quit => break 'run,
            }
        }
        if let Some(keeper) = keeper.as_mut()
            && let Err(err) = keeper.sync(model.client.identity())
        {
            model.error(format!("could not save the session: {err}"));
        }
        terminal.draw(|frame| view::draw(frame, &mut model))?;
        // All branches are cancel-safe (stream `next`, channel `recv`, interval `tick`).
        let msg = tokio::select! {
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) => Msg::Key(key),
                Some(Ok(Event::Paste(text))) => Msg::Paste(text),
                Some(Ok(Event::Resize(..))) => Msg::Resize,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break 'run,
            },
            Some(event) = events_rx.recv() => Msg::Net(event),
            Some(answer) = api_rx.recv() => answer,
            _ = tick.tick() => Msg::Tick,
        };
        effects = update::update(&mut model, msg, now());
        // Take whatever else the network delivered before redrawing.
        while let Ok(event) = events_rx.try_recv() {
            effects.extend(update::update(&mut model, Msg::Net(event), now()));
        }
    }
    drop(commands);
    let _ = tokio::time::timeout(CLOSE_GRACE, net_task).await;
    Ok(())
}

/// The keeper of `server`'s saved session; the session it holds is resumed by `client`.
/// On a problem (no configuration directory, an unreadable file) nothing is saved and
/// the problem is returned for the user.
fn open_keeper(server: &Server, client: &mut Client) -> (Option<Keeper>, Option<String>) {
    let store = match TokenStore::from_env() {
        Ok(store) => store,
        Err(err) => return (None, Some(format!("sessions are not saved: {err}"))),
    };
    match store.load(server.key()) {
        Ok(saved) => {
            if let Some(saved) = &saved {
                client.resume_identity(saved.identity());
            }
            (Some(Keeper::new(store, server.key(), saved)), None)
        }
        Err(err) => (None, Some(format!("sessions are not saved: {err}"))),
    }
}

/// A seed for post ids and jitter that differs per run.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    // Fold the 128-bit nanoseconds and mix in the process id.
    (nanos as u64) ^ ((nanos >> 64) as u64) ^ (u64::from(std::process::id()) << 32)
}
