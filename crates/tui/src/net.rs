//! The network task: a thin WebSocket transport around the client core.
//!
//! It talks to the UI only through channels: it receives [`NetCommand`]s (connect, send a
//! command, close) and reports [`NetEvent`]s (connected, a server event, disconnected with
//! the close code). It does not decide anything: when to connect is the client core's
//! call, made in the UI task. WebSocket pings are answered by tungstenite; the task
//! flushes after each ping so the pong leaves at once.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tuitalk_protocol::{ClientCommand, ServerEvent, decode_event, encode_command};

/// How long opening a connection may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the UI asks of the network task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetCommand {
    /// Open a connection (ignored while one is open).
    Connect,
    /// Send a command on the open connection (dropped when there is none: the client
    /// core re-sends what matters after the next `welcome`).
    Send(ClientCommand),
    /// Close the open connection normally (1000).
    Close,
}

/// What the network task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// The connection asked for is open.
    Connected,
    /// A server event arrived.
    Frame(ServerEvent),
    /// The connection ended or could not be opened; `code` is the server's close code.
    Disconnected {
        /// The WebSocket close code, when the server sent a close frame.
        code: Option<u16>,
        /// The close reason or the transport error.
        reason: String,
    },
}

/// Starts the network task for `url`. Commands go in through the returned sender; events
/// come out through `events`. The task ends when the command sender is dropped.
pub fn spawn(
    url: String,
    events: mpsc::Sender<NetEvent>,
) -> (mpsc::UnboundedSender<NetCommand>, JoinHandle<()>) {
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let handle = tokio::spawn(run(url, commands_rx, events));
    (commands_tx, handle)
}

async fn run(
    url: String,
    mut commands: mpsc::UnboundedReceiver<NetCommand>,
    events: mpsc::Sender<NetEvent>,
) {
    while let Some(command) = commands.recv().await {
        if command != NetCommand::Connect {
            continue;
        }
        let connecting = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async(url.as_str()),
        );
        let ws = match connecting.await {
            Ok(Ok((ws, _response))) => ws,
            Ok(Err(err)) => {
                let event = NetEvent::Disconnected {
                    code: None,
                    reason: plain_reason(&err),
                };
                if events.send(event).await.is_err() {
                    return;
                }
                continue;
            }
            Err(_elapsed) => {
                let event = NetEvent::Disconnected {
                    code: None,
                    reason: "connect timed out".to_owned(),
                };
                if events.send(event).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if events.send(NetEvent::Connected).await.is_err() {
            return;
        }
        let (code, reason) = session(ws, &mut commands, &events).await;
        if events
            .send(NetEvent::Disconnected { code, reason })
            .await
            .is_err()
        {
            return;
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Pumps one open connection until it ends; returns the close code and reason.
async fn session(
    mut ws: Ws,
    commands: &mut mpsc::UnboundedReceiver<NetCommand>,
    events: &mpsc::Sender<NetEvent>,
) -> (Option<u16>, String) {
    loop {
        // Both branches are cancel-safe: `StreamExt::next` on the socket and
        // `UnboundedReceiver::recv` lose nothing when the other one wins.
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    // Unknown event types from newer servers are ignored.
                    if let Ok(event) = decode_event(text.as_str())
                        && events.send(NetEvent::Frame(event)).await.is_err()
                    {
                        let _ = ws.close(None).await;
                        return (None, "ui gone".to_owned());
                    }
                }
                Some(Ok(Message::Ping(_))) => {
                    if let Err(err) = ws.flush().await {
                        return (None, plain_reason(&err));
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    // Let tungstenite send its close reply.
                    let _ = ws.flush().await;
                    return match frame {
                        Some(frame) => (Some(u16::from(frame.code)), frame.reason.to_string()),
                        None => (None, "closed without a code".to_owned()),
                    };
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return (None, plain_reason(&err)),
                None => return (None, "connection lost".to_owned()),
            },
            command = commands.recv() => match command {
                Some(NetCommand::Send(command)) => {
                    let text = encode_command(&command);
                    if let Err(err) = ws.send(Message::text(text)).await {
                        return (None, plain_reason(&err));
                    }
                }
                Some(NetCommand::Connect) => {}
                Some(NetCommand::Close) | None => {
                    let frame = CloseFrame {
                        code: WsCloseCode::Normal,
                        reason: "bye".into(),
                    };
                    let _ = ws.close(Some(frame)).await;
                    return (Some(1000), "closed by the client".to_owned());
                }
            },
        }
    }
}

/// A transport failure in the words the status line and notices show: what happened for
/// the user ("connection lost", "server unreachable"), not the library's error text. Only
/// errors the user can act on (a bad URL, TLS) keep their detail.
fn plain_reason(err: &WsError) -> String {
    match err {
        WsError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "server unreachable".to_owned()
        }
        WsError::Http(response) if response.status().as_u16() == 503 => "server busy".to_owned(),
        WsError::Http(response) => format!("server answered HTTP {}", response.status().as_u16()),
        WsError::Url(_) | WsError::Tls(_) => err.to_string(),
        _ => "connection lost".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    use tokio_tungstenite::tungstenite::http::Response;

    #[test]
    fn transport_errors_read_as_plain_words() {
        let reset = WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        assert_eq!(plain_reason(&reset), "connection lost");
        let refused = WsError::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(plain_reason(&refused), "server unreachable");
        let busy = Response::builder()
            .status(503)
            .body(None)
            .expect("response");
        assert_eq!(plain_reason(&WsError::Http(Box::new(busy))), "server busy");
        let bad = Response::builder()
            .status(502)
            .body(None)
            .expect("response");
        assert_eq!(
            plain_reason(&WsError::Http(Box::new(bad))),
            "server answered HTTP 502"
        );
    }
}
