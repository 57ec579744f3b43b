//! The command line.

use std::time::Duration;

use clap::Parser;
use tuitalk_protocol::name;

/// Many slim TuiTalk WebSocket clients in one process: R receivers and S senders over K
/// rooms. Verifies that every receiver got every acknowledged message exactly once, in
/// order, with the right id, and prints ONE JSON line of results on stdout. Exits 0 when
/// the run is clean, 1 when anything was lost, duplicated, out of order, mismatched,
/// unacknowledged or refused, 2 when the run could not be set up.
///
/// Receiver i joins room i % K, sender j likewise; all receivers are connected and joined
/// before the senders begin. Clients survive disconnects (close 1012, 4000, network
/// errors): they reconnect with exponential backoff and full jitter, resume their room
/// with `since`, and re-send unacknowledged posts with the same ids.
///
/// Thousands of connections need as many file descriptors (`ulimit -n`), here and on the
/// server; the server's `limits.posts_per_second` (default 20 per connection) must allow
/// the rate asked for, or posts are retried after `rate_limited`.
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about, after_help = EXAMPLES)]
pub struct Cli {
    /// WebSocket URL of a server; repeat it to spread clients round-robin over several
    /// (three backends, or one load balancer).
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:8080/ws")]
    pub url: Vec<String>,

    /// Receiving connections.
    #[arg(long, short = 'r', value_name = "R", default_value_t = 10)]
    pub receivers: usize,

    /// Sending connections.
    #[arg(long, short = 's', value_name = "S", default_value_t = 2)]
    pub senders: usize,

    /// Rooms, named `<room prefix>-<k>` for k in 0..K.
    #[arg(long, short = 'k', value_name = "K", default_value_t = 1)]
    pub rooms: usize,

    /// Room name prefix; default `load-<random run id>`, so runs do not share rooms.
    #[arg(long, value_name = "PREFIX")]
    pub room_prefix: Option<String>,

    /// Total posts per second over all senders; 0 = as fast as acks allow.
    #[arg(long, value_name = "N", default_value_t = 0.0)]
    pub rate: f64,

    /// Unacknowledged posts one sender keeps in flight at most.
    #[arg(long, short = 'w', value_name = "W", default_value_t = 16)]
    pub window: usize,

    /// Seconds of sending (the default when neither this nor --messages is given: 10).
    #[arg(long, short = 'd', value_name = "SECS")]
    pub duration: Option<f64>,

    /// Posts per sender; sending ends at whichever of --duration and --messages comes
    /// first (with --messages alone, after one hour at most).
    #[arg(long, short = 'm', value_name = "N")]
    pub messages: Option<u64>,

    /// Seconds to wait after sending for every post to be acknowledged and delivered.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub settle: f64,

    /// New connections opened per second while connecting (a ramp); 0 = all at once.
    #[arg(long, value_name = "N", default_value_t = 500.0)]
    pub connect_rate: f64,

    /// Seconds allowed for all clients to connect and join before the run starts
    /// anyway (the missing ones are reported as `not_connected`); default 30 plus the
    /// ramp's length.
    #[arg(long, value_name = "SECS")]
    pub connect_timeout: Option<f64>,

    /// Idle mode: open N connections (hello + join one of the K rooms), hold them for
    /// --hold seconds, report how many are up (exit 1 unless all are). No posts. Spread
    /// them over many rooms (e.g. --rooms 100) unless one crowded room is the point:
    /// every join sends `user_joined` to every member of the room.
    #[arg(long, value_name = "N")]
    pub idle: Option<usize>,

    /// Idle mode: seconds to hold the connections once all are up.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub hold: f64,

    /// Idle mode: server process ids (comma separated) whose resident memory is read from
    /// /proc/PID/status before and after, to report KiB per connection.
    #[arg(long, value_name = "PID[,PID]", value_delimiter = ',')]
    pub pid: Vec<u32>,

    /// Display name prefix: clients are `<prefix>-r<i>`, `<prefix>-s<j>`, `<prefix>-i<n>`.
    #[arg(long, value_name = "PREFIX", default_value = "load")]
    pub name_prefix: String,

    /// First reconnect delay ceiling in milliseconds (full jitter: a delay is random in
    /// [0, min(cap, base·2^attempt)]).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub backoff_base_ms: u64,

    /// Largest reconnect delay ceiling in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub backoff_cap_ms: u64,

    /// Progress and diagnostics on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

const EXAMPLES: &str = "\
Examples:
  tuitalk-load --senders 20 --receivers 20 --rooms 20 --duration 10
  tuitalk-load --senders 5 --receivers 50 --rooms 1 --rate 1000 --duration 10
  tuitalk-load --url ws://10.0.0.11:8080/ws --url ws://10.0.0.12:8080/ws --rate 500 -d 60
  tuitalk-load --idle 2000 --hold 10 --pid $(pidof tuitalk-server)";

/// The longest display name the defaults of a server accept.
const MAX_NAME_CHARS: usize = 32;

impl Cli {
    /// Checks the combinations clap cannot: counts, rates, names.
    pub fn validate(&self) -> Result<(), String> {
        if self.url.is_empty() {
            return Err("--url: at least one is needed".to_owned());
        }
        if let Some(url) = self.url.iter().find(|url| !url.starts_with("ws://")) {
            return Err(format!(
                "--url {url}: must start with ws:// (this build has no TLS; point it at \
                 the backends or the load balancer's plain port)"
            ));
        }
        if self.rooms == 0 {
            return Err("--rooms must be at least 1".to_owned());
        }
        if self.window == 0 {
            return Err("--window must be at least 1".to_owned());
        }
        for (flag, value) in [
            ("--rate", self.rate),
            ("--settle", self.settle),
            ("--connect-rate", self.connect_rate),
            ("--hold", self.hold),
            ("--duration", self.duration.unwrap_or(0.0)),
            ("--connect-timeout", self.connect_timeout.unwrap_or(0.0)),
        ] {
            if !(0.0..=1e9).contains(&value) {
                return Err(format!("{flag}: {value} is not a sensible number"));
            }
        }
        if self.messages == Some(0) {
            return Err("--messages must be at least 1".to_owned());
        }
        if self.idle.is_none() {
            if self.senders == 0 {
                return Err("--senders must be at least 1".to_owned());
            }
            if self.receivers == 0 {
                return Err("--receivers must be at least 1".to_owned());
            }
        }
        let widest = self
            .idle
            .unwrap_or(0)
            .max(self.receivers)
            .max(self.senders)
            .saturating_sub(1);
        let longest = format!("{}-r{widest}", self.name_prefix);
        if longest.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "--name-prefix: names like {longest} are longer than {MAX_NAME_CHARS} characters"
            ));
        }
        name::validate_display_name(&longest, MAX_NAME_CHARS)
            .map_err(|code| format!("--name-prefix: {longest} is refused ({code})"))?;
        if let Some(prefix) = &self.room_prefix {
            let last = format!("{prefix}-{}", self.rooms - 1);
            name::validate_room(&last)
                .map_err(|code| format!("--room-prefix: room {last} is refused ({code})"))?;
        }
        Ok(())
    }

    /// How long sending lasts at most: --duration, or 10 s when neither --duration nor
    /// --messages is given, or unbounded (`None`) with only --messages.
    pub fn send_duration(&self) -> Option<Duration> {
        match (self.duration, self.messages) {
            (Some(secs), _) => Some(Duration::from_secs_f64(secs)),
            (None, Some(_)) => None,
            (None, None) => Some(Duration::from_secs(10)),
        }
    }

    /// Seconds allowed to connect `count` clients with the ramp.
    pub fn connect_budget(&self, count: usize) -> Duration {
        let secs = self.connect_timeout.unwrap_or_else(|| {
            let ramp = if self.connect_rate > 0.0 {
                count as f64 / self.connect_rate
            } else {
                0.0
            };
            30.0 + ramp
        });
        Duration::from_secs_f64(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let mut argv = vec!["tuitalk-load"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("parses")
    }

    #[test]
    fn defaults_are_valid() {
        let cli = parse(&[]);
        assert_eq!(cli.url, ["ws://127.0.0.1:8080/ws"]);
        assert!(cli.validate().is_ok());
        assert_eq!(cli.send_duration(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn urls_repeat_and_pids_split() {
        let cli = parse(&["--url", "ws://a/ws", "--url", "ws://b/ws", "--pid", "1,2"]);
        assert_eq!(cli.url, ["ws://a/ws", "ws://b/ws"]);
        assert_eq!(cli.pid, [1, 2]);
    }

    #[test]
    fn messages_alone_leave_the_duration_open() {
        let cli = parse(&["--messages", "5"]);
        assert_eq!(cli.send_duration(), None);
        let cli = parse(&["--messages", "5", "--duration", "2"]);
        assert_eq!(cli.send_duration(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--rooms", "0"]).validate().is_err());
        assert!(parse(&["--url", "http://x"]).validate().is_err());
        assert!(parse(&["--url", "wss://x/ws"]).validate().is_err());
        assert!(parse(&["--rate=-1"]).validate().is_err());
        assert!(parse(&["--rate", "inf"]).validate().is_err());
        assert!(parse(&["--window", "0"]).validate().is_err());
        assert!(parse(&["--room-prefix", "bad room"]).validate().is_err());
        let long = "x".repeat(30);
        assert!(parse(&["--name-prefix", &long]).validate().is_err());
        assert!(parse(&["--idle", "5", "--senders", "0"]).validate().is_ok());
    }

    #[test]
    fn connect_budget_grows_with_the_ramp() {
        let cli = parse(&["--connect-rate", "100"]);
        assert_eq!(cli.connect_budget(1000), Duration::from_secs(40));
        let cli = parse(&["--connect-timeout", "5"]);
        assert_eq!(cli.connect_budget(1000), Duration::from_secs(5));
    }
}
