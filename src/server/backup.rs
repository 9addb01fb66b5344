//! `ajax-chat backup <file>`: a consistent copy of the embedded database, taken while the
//! server runs, written under a temporary name and renamed into place only once it is whole
//! and checked, so `<file>` is never a half-written backup. (A PostgreSQL database is backed
//! up with its own tool, `pg_dump`: the README says how, and tests/postgres.rs does it.)
//!
//! On a terminal it draws a progress bar ([`Progress`]); otherwise it prints nothing but
//! errors, so that a cron job's mail says something only when something failed.

use std::path::{Path, PathBuf};

use super::BoxError;
use super::progress::Progress;
use super::store::{is_postgres, sqlite_backup, sqlite_path};
use super::whole::{partial_name, settle};

/// Backs up the database `database_url` names into `to`.
pub fn run(database_url: &str, to: &Path) -> Result<(), BoxError> {
    if is_postgres(database_url) {
        return Err(
            "a PostgreSQL database is backed up with pg_dump (README: Backup and restore)".into(),
        );
    }
    let Some(path) = sqlite_path(database_url) else {
        return Err(format!("unsupported DATABASE_URL: {database_url}").into());
    };
    let source = Path::new(path);
    // Renamed over the live file (or its WAL), the copy would take acknowledged messages with
    // it: the server goes on writing to the file it has open, now nameless.
    let live = ["", "-wal", "-shm"].map(|suffix| {
        let mut name = source.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    });
    if live.iter().any(|file| same_place(file, to)) {
        return Err(format!(
            "{} is the database itself (or its -wal or -shm): back up to another file",
            to.display()
        )
        .into());
    }
    let partial = partial_name(to);
    // A partial file left by a backup that was killed is garbage: start afresh.
    let _ = std::fs::remove_file(&partial);
    let mut bar = Progress::on_terminal();
    let copied = sqlite_backup(source, &partial, |done, total| {
        bar.bar("backup", done, total, "pages");
    });
    bar.finish();
    settle(&partial, to, copied.map_err(BoxError::from))?;
    if bar.shown() {
        eprintln!("backed up {path} to {}", to.display());
    }
    Ok(())
}

/// Whether `a` and `b` name the same file: the same inode if both exist, else the same name
/// in the same folder (symbolic links of the folders resolved).
fn same_place(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return (a.dev(), a.ino()) == (b.dev(), b.ino());
    }
    let place = |path: &Path| {
        let folder = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Some(folder.canonicalize().ok()?.join(path.file_name()?))
    };
    place(a).is_some_and(|a| Some(a) == place(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_and_its_wal_are_the_same_place_by_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.db");
        std::fs::write(&db, b"x").unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(same_place(&db, &sub.join("../chat.db")));
        // Not there yet, by another path to the same folder.
        assert!(same_place(
            &dir.path().join("chat.db-wal"),
            &sub.join("../chat.db-wal")
        ));
        assert!(!same_place(&db, &dir.path().join("copy.db")));
    }
}
