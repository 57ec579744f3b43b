//! The WebSocket transport: opens a browser `WebSocket`, reports what happens to it as
//! [`SocketEvent`]s and sends text frames. It decides nothing; when to connect is the
//! client core's call. The browser answers the server's pings by itself.

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// Something that happened to a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEvent {
    /// The connection is open.
    Open,
    /// A text frame arrived.
    Text(String),
    /// The connection closed or could not be opened (1006 when no close frame came).
    Closed {
        /// The close code the browser reports.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// An open (or opening) WebSocket and its event handlers. Dropping it detaches the
/// handlers and closes the connection.
pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("url", &self.ws.url())
            .finish()
    }
}

impl Socket {
    /// Opens a WebSocket to `url`; `report` is called with each of its events.
    pub fn open(url: &str, report: impl Fn(SocketEvent) + Clone + 'static) -> Result<Self, String> {
        let ws = WebSocket::new(url).map_err(|error| {
            format!(
                "cannot open {url}: {}",
                error.as_string().unwrap_or_else(|| format!("{error:?}"))
            )
        })?;
        let on_open = {
            let report = report.clone();
            Closure::<dyn FnMut()>::new(move || report(SocketEvent::Open))
        };
        let on_message = {
            let report = report.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                // Binary frames are not part of the protocol; ignore them.
                if let Some(text) = event.data().as_string() {
                    report(SocketEvent::Text(text));
                }
            })
        };
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            report(SocketEvent::Closed {
                code: event.code(),
                reason: event.reason(),
            });
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Self {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Sends a text frame; false when the socket cannot take it (the client core
    /// re-sends what matters after the next `welcome`).
    pub fn send(&self, text: &str) -> bool {
        self.ws.ready_state() == WebSocket::OPEN && self.ws.send_with_str(text).is_ok()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        if matches!(
            self.ws.ready_state(),
            WebSocket::CONNECTING | WebSocket::OPEN
        ) {
            let _ = self.ws.close_with_code_and_reason(1000, "bye");
        }
    }
}
