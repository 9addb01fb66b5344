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
    let partial = partial_name(to);
    // A partial file left by a backup that was killed is garbage: start afresh.
    let _ = std::fs::remove_file(&partial);
    let mut bar = Progress::on_terminal();
    let copied = sqlite_backup(Path::new(path), &partial, |done, total| {
        bar.bar("backup", done, total, "pages");
    });
    bar.finish();
    if let Err(err) = copied
        .map_err(BoxError::from)
        .and_then(|()| settle(&partial, to))
    {
        let _ = std::fs::remove_file(&partial);
        return Err(err);
    }
    if bar.shown() {
        eprintln!("backed up {path} to {}", to.display());
    }
    Ok(())
}

/// `.<name>.partial` beside `to`: the same folder, so the rename is atomic.
fn partial_name(to: &Path) -> PathBuf {
    let name = to
        .file_name()
        .map_or_else(|| "backup".into(), |name| name.to_string_lossy());
    to.with_file_name(format!(".{name}.partial"))
}

/// Makes the finished copy durable, then gives it its name.
fn settle(partial: &Path, to: &Path) -> Result<(), BoxError> {
    std::fs::File::open(partial)?.sync_all()?;
    std::fs::rename(partial, to)?;
    // The rename itself is durable once the folder is synced.
    let folder = to
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(folder)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partial_file_sits_beside_the_backup() {
        assert_eq!(
            partial_name(Path::new("/var/backups/chat.db")),
            Path::new("/var/backups/.chat.db.partial")
        );
        assert_eq!(
            partial_name(Path::new("chat.db")),
            Path::new(".chat.db.partial")
        );
    }
}
