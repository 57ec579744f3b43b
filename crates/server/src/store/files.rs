//! The server's files on disk are private: the data directory is created with mode 0700,
//! and the SQLite database is created with mode 0600 before SQLite opens it (SQLite gives
//! its `-wal` and `-shm` files the database file's mode). A data directory or database
//! file found readable by others at startup is tightened, and that is logged. The token
//! secret (`crate::identity`) is kept the same way.
//!
//! Modes are set with `std`'s Unix extensions (`unsafe_code` is forbidden, so no umask);
//! on other platforms these functions only create what is missing.

use std::io;
use std::path::{Path, PathBuf};

/// The mode of the data directory.
pub const DIR_MODE: u32 = 0o700;

/// The mode of the server's files.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700, or tightens an existing one that
/// others may read or enter.
pub fn prepare_data_dir(dir: &Path) -> io::Result<()> {
    create_private_dir(dir)?;
    tighten(dir, DIR_MODE)
}

/// Creates `dir` (and missing parents) with mode 0700 when missing; an existing one is
/// left as it is (it may be a shared directory chosen for `store.sqlite_path`).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)
}

/// Makes sure the SQLite database at `db` and its `-wal` and `-shm` files are private:
/// creates the database file empty with mode 0600 when missing (SQLite then gives the
/// files it creates next to it the same mode), and tightens existing ones to 0600.
pub fn prepare_sqlite_files(db: &Path) -> io::Result<()> {
    if let Some(parent) = db.parent() {
        create_private_dir(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    match options.open(db) {
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    for path in sqlite_files(db) {
        match tighten(&path, FILE_MODE) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// The database file and the two files SQLite keeps next to it in WAL mode.
pub fn sqlite_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// Sets `path`'s mode to `mode` when it grants more (to group or others), and logs it.
pub fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if current & !mode != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{current:o}"),
                now = format!("{mode:o}"),
                "file was accessible to others; permissions tightened"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
    }

    #[test]
    fn creates_private_and_tightens_open_ones() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("a/data");
        prepare_data_dir(&dir).expect("create");
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("t.db");
        prepare_sqlite_files(&db).expect("files");
        assert_eq!(mode(&db), 0o600);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let wal = dir.join("t.db-wal");
        std::fs::write(&wal, b"").expect("wal");
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        prepare_data_dir(&dir).expect("tighten dir");
        prepare_sqlite_files(&db).expect("tighten files");
        assert_eq!((mode(&dir), mode(&db), mode(&wal)), (0o700, 0o600, 0o600));

        // A stricter mode is kept.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        prepare_sqlite_files(&db).expect("strict");
        assert_eq!(mode(&db), 0o400);
    }
}
