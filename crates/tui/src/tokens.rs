//! The saved sessions: one session token per server, so that the next start resumes the
//! same identity (an account or a guest).
//!
//! They live in `sessions.json` in the user's configuration directory:
//! `$XDG_CONFIG_HOME/tuitalk/`, or `~/.config/tuitalk/` when that is not set. The file
//! maps a server's key (`ws://host[:port]`, see [`crate::http::Server::key`]) to the
//! session kept for it:
//!
//! ```json
//! {"version": 1, "servers": {"ws://127.0.0.1:8080": {"user_id": "…", "name": "Ada",
//!   "handle": "ada", "email_verified": true, "session_id": "…", "token": "v2.…"}}}
//! ```
//!
//! A token is a password to its session: the directory is created with mode 0700 and
//! the file is only ever written whole, to a new file of mode 0600 that then replaces
//! the old one (a crash leaves the old file or the new one, never half of either).
//! [`Keeper`] keeps the file in step with the session of a running client.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tuitalk_client::Identity;

use crate::secret::Secret;

/// The file's name in the configuration directory.
pub const FILE_NAME: &str = "sessions.json";
/// The format version written.
const VERSION: u32 = 1;
/// The largest file read (a token is a few hundred bytes).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why the saved sessions could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Neither `XDG_CONFIG_HOME` nor `HOME` names a directory.
    #[error("no configuration directory: set XDG_CONFIG_HOME or HOME")]
    NoConfigDir,
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not what this version writes (edited by hand, or too large).
    #[error("{path}: not a sessions file ({why}); remove it to start afresh")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// The session kept for one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    /// The user id.
    pub user_id: String,
    /// The display name when it was saved.
    pub name: String,
    /// The account's handle; absent for a guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Whether the account's email was verified when it was saved.
    #[serde(default)]
    pub email_verified: bool,
    /// The session's id (to revoke it on logout).
    #[serde(default)]
    pub session_id: String,
    /// The session token.
    pub token: Secret,
}

impl SavedSession {
    /// The saved form of an identity.
    pub fn from_identity(identity: &Identity) -> Self {
        Self {
            user_id: identity.user_id.clone(),
            name: identity.name.clone(),
            handle: identity.handle.clone(),
            email_verified: identity.email_verified,
            session_id: identity.session_id.clone(),
            token: Secret::new(identity.token.clone()),
        }
    }

    /// The identity to resume.
    pub fn identity(&self) -> Identity {
        Identity {
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            handle: self.handle.clone(),
            email_verified: self.email_verified,
            session_id: self.session_id.clone(),
            token: self.token.expose().to_owned(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SessionsFile {
    version: u32,
    servers: BTreeMap<String, SavedSession>,
}

/// The saved sessions in one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStore {
    dir: PathBuf,
}

impl TokenStore {
    /// The store in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The user's store: `$XDG_CONFIG_HOME/tuitalk`, else `$HOME/.config/tuitalk`
    /// (relative or empty values are ignored, as the XDG specification says).
    pub fn from_env() -> Result<Self, StoreError> {
        config_dir(
            std::env::var_os("XDG_CONFIG_HOME"),
            std::env::var_os("HOME"),
        )
        .map(Self::new)
        .ok_or(StoreError::NoConfigDir)
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The session saved for `server` (a [`crate::http::Server::key`]).
    pub fn load(&self, server: &str) -> Result<Option<SavedSession>, StoreError> {
        Ok(self.read()?.servers.remove(server))
    }

    /// Saves `session` for `server`, replacing the one saved before; the other servers'
    /// sessions are kept.
    pub fn save(&self, server: &str, session: &SavedSession) -> Result<(), StoreError> {
        let mut file = self.read()?;
        file.servers.insert(server.to_owned(), session.clone());
        self.write(&file)
    }

    /// Forgets the session of `server`; returns whether there was one.
    pub fn remove(&self, server: &str) -> Result<bool, StoreError> {
        let mut file = self.read()?;
        let removed = file.servers.remove(server).is_some();
        if removed {
            self.write(&file)?;
        }
        Ok(removed)
    }

    fn read(&self) -> Result<SessionsFile, StoreError> {
        let path = self.path();
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SessionsFile::default());
            }
            Err(err) => return Err(io(err)),
        };
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        let unreadable = |why: String| StoreError::Unreadable {
            path: path.clone(),
            why,
        };
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(unreadable("larger than 1 MiB".to_owned()));
        }
        let file: SessionsFile =
            serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
        if file.version != VERSION {
            return Err(unreadable(format!("version {}", file.version)));
        }
        Ok(file)
    }

    /// Writes the whole file: to a new private file next to it, synced, then renamed
    /// over the old one.
    fn write(&self, file: &SessionsFile) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        create_private_dir(&self.dir).map_err(io(&self.dir))?;
        let file = SessionsFile {
            version: VERSION,
            servers: file.servers.clone(),
        };
        let mut text = serde_json::to_string_pretty(&file).map_err(|e| StoreError::Unreadable {
            path: self.path(),
            why: e.to_string(),
        })?;
        text.push('\n');
        let temp = self
            .dir
            .join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        let written = write_private(&temp, text.as_bytes())
            .and_then(|()| std::fs::rename(&temp, self.path()));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(io(&self.path())(err));
        }
        // Make the rename itself durable (best effort: not every system syncs a directory).
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// TuiTalk's configuration directory for the values of `XDG_CONFIG_HOME` and `HOME`.
fn config_dir(
    xdg_config_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let absolute = |value: Option<std::ffi::OsString>| {
        value.map(PathBuf::from).filter(|path| path.is_absolute())
    };
    absolute(xdg_config_home)
        .or_else(|| absolute(home).map(|home| home.join(".config")))
        .map(|base| base.join("tuitalk"))
}

/// Creates `dir` (and its parents) if needed, and makes it private (0700) on Unix.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        builder.create(dir)
    }
}

/// Writes a new file readable by its owner only (0600 on Unix) and syncs it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Keeps a server's saved session in step with a running client's identity: saved when
/// it changes (welcomed, renamed, signed in), removed when it is dropped (signed out, the
/// session ended).
#[derive(Debug)]
pub struct Keeper {
    store: TokenStore,
    server: String,
    kept: Option<SavedSession>,
}

impl Keeper {
    /// A keeper for `server` whose saved session (if any) is `kept`.
    pub fn new(store: TokenStore, server: impl Into<String>, kept: Option<SavedSession>) -> Self {
        Self {
            store,
            server: server.into(),
            kept,
        }
    }

    /// The file it writes.
    pub fn path(&self) -> PathBuf {
        self.store.path()
    }

    /// Saves or removes the session as `identity` now is; does nothing when it has not
    /// changed. A failure is reported once: the same state is not written again.
    pub fn sync(&mut self, identity: Option<&Identity>) -> Result<(), StoreError> {
        let wanted = identity.map(SavedSession::from_identity);
        if wanted == self.kept {
            return Ok(());
        }
        let result = match &wanted {
            Some(session) => self.store.save(&self.server, session),
            None => self.store.remove(&self.server).map(|_| ()),
        };
        self.kept = wanted;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(token: &str) -> SavedSession {
        SavedSession {
            user_id: "u-1".into(),
            name: "Ada".into(),
            handle: Some("ada".into()),
            email_verified: true,
            session_id: "s-1".into(),
            token: Secret::new(token),
        }
    }

    const A: &str = "ws://127.0.0.1:8080";
    const B: &str = "ws://chat.example";

    #[test]
    fn sessions_are_kept_per_server() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path().join("tuitalk"));
        assert_eq!(store.load(A).expect("empty"), None);
        store.save(A, &session("tok-a")).expect("save a");
        store.save(B, &session("tok-b")).expect("save b");
        assert_eq!(store.load(A).expect("a"), Some(session("tok-a")));
        assert_eq!(store.load(B).expect("b"), Some(session("tok-b")));
        store.save(A, &session("tok-a2")).expect("replace a");
        assert_eq!(store.load(A).expect("a"), Some(session("tok-a2")));
        assert!(store.remove(A).expect("remove a"));
        assert!(!store.remove(A).expect("again"));
        assert_eq!(store.load(A).expect("a gone"), None);
        assert_eq!(store.load(B).expect("b kept"), Some(session("tok-b")));
    }

    #[cfg(unix)]
    #[test]
    fn file_and_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path().join("config/tuitalk"));
        store.save(A, &session("tok")).expect("save");
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&store.path()), 0o600);
        assert_eq!(mode(&dir.path().join("config/tuitalk")), 0o700);
        // A directory made loose by hand is tightened on the next write.
        std::fs::set_permissions(
            dir.path().join("config/tuitalk"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        store.save(B, &session("tok")).expect("save again");
        assert_eq!(mode(&dir.path().join("config/tuitalk")), 0o700);
        assert_eq!(mode(&store.path()), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn writes_replace_the_file_whole() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path());
        store.save(A, &session("old")).expect("save");
        // A second name for the old file: an in-place rewrite would change it too.
        let link = dir.path().join("old-link");
        std::fs::hard_link(store.path(), &link).expect("hard link");
        let before = std::fs::metadata(store.path()).expect("metadata").ino();
        store.save(A, &session("new")).expect("replace");
        assert_ne!(
            std::fs::metadata(store.path()).expect("metadata").ino(),
            before
        );
        let old = std::fs::read_to_string(&link).expect("old file");
        assert!(old.contains("\"old\"") && !old.contains("\"new\""), "{old}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|name| name.ends_with(".tmp")),
            "{names:?}"
        );
    }

    #[test]
    fn a_foreign_file_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path());
        std::fs::write(store.path(), "not json").expect("write");
        assert!(matches!(store.load(A), Err(StoreError::Unreadable { .. })));
        assert!(store.save(A, &session("tok")).is_err());
        assert_eq!(
            std::fs::read_to_string(store.path()).expect("read"),
            "not json"
        );
    }

    #[test]
    fn the_keeper_follows_the_identity() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path());
        let mut keeper = Keeper::new(store.clone(), A, None);
        keeper.sync(None).expect("nothing to do");
        assert!(!store.path().exists(), "nothing written without a session");
        let guest = Identity {
            handle: None,
            ..session("guest-tok").identity()
        };
        keeper.sync(Some(&guest)).expect("save guest");
        assert_eq!(
            store.load(A).expect("load").map(|s| s.token),
            Some(Secret::new("guest-tok"))
        );
        let account = session("acct-tok").identity();
        keeper.sync(Some(&account)).expect("save account");
        assert_eq!(store.load(A).expect("load"), Some(session("acct-tok")));
        keeper.sync(None).expect("signed out");
        assert_eq!(store.load(A).expect("load"), None);
    }

    #[test]
    fn the_config_directory_follows_xdg() {
        let dir = |xdg: Option<&str>, home: Option<&str>| {
            config_dir(xdg.map(Into::into), home.map(Into::into))
        };
        assert_eq!(
            dir(Some("/x/cfg"), Some("/home/u")),
            Some(PathBuf::from("/x/cfg/tuitalk"))
        );
        assert_eq!(
            dir(None, Some("/home/u")),
            Some(PathBuf::from("/home/u/.config/tuitalk"))
        );
        assert_eq!(
            dir(Some(""), Some("/home/u")),
            Some(PathBuf::from("/home/u/.config/tuitalk"))
        );
        assert_eq!(dir(Some("rel"), None), None);
        assert_eq!(dir(None, None), None);
    }
}
