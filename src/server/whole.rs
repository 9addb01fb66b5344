//! Files the commands (`backup`, `export`) write whole or not at all: written as
//! `.<name>.partial` beside their place (the same folder, so the rename is atomic), then
//! synced and renamed, the rename made durable by syncing the folder; removed if writing failed.

use std::path::{Path, PathBuf};

use super::BoxError;

/// `.<name>.partial` beside `file`.
pub fn partial_name(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map_or_else(|| "file".into(), |name| name.to_string_lossy());
    file.with_file_name(format!(".{name}.partial"))
}

/// Gives the finished `partial` its name `file`, durably, if `written` says it is finished;
/// otherwise (or if that fails) removes it.
pub fn settle(partial: &Path, file: &Path, written: Result<(), BoxError>) -> Result<(), BoxError> {
    let done = written.and_then(|()| {
        std::fs::File::open(partial)?.sync_all()?;
        std::fs::rename(partial, file)?;
        let folder = file
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(folder)?.sync_all()?;
        Ok(())
    });
    if done.is_err() {
        let _ = std::fs::remove_file(partial);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partial_file_sits_beside_its_file() {
        assert_eq!(
            partial_name(Path::new("/var/backups/chat.db")),
            Path::new("/var/backups/.chat.db.partial")
        );
        assert_eq!(
            partial_name(Path::new("chat.db")),
            Path::new(".chat.db.partial")
        );
    }

    #[test]
    fn a_failed_write_leaves_nothing_and_a_finished_one_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.txt");
        let partial = partial_name(&file);
        std::fs::write(&partial, "half").unwrap();
        assert!(settle(&partial, &file, Err("disk full".into())).is_err());
        assert!(!partial.exists() && !file.exists());
        std::fs::write(&partial, "whole").unwrap();
        settle(&partial, &file, Ok(())).unwrap();
        assert!(!partial.exists());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "whole");
    }
}
