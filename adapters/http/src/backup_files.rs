//! Where a backup's snapshot waits for its download: a directory of its own under the
//! system's temporary directory (`TMPDIR`), that only this user may enter, holding a file
//! that only this user may read. The directory goes as soon as the copy is open for
//! sending, or when the backup fails or is abandoned; one left by a process that died (a
//! SIGKILL, a power cut) is swept at the next start.
//!
//! A directory is ours when its name is [`PREFIX`] and a UUID; it is live while a process
//! holds the lock (`flock`) on it, which the kernel releases when that process dies, so a
//! sweep never takes the backup another server sharing `TMPDIR` is taking.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How the directories of our backups are named, followed by a UUID.
pub const PREFIX: &str = "ai-message-backup-";

/// The snapshot's name inside its directory.
const SNAPSHOT: &str = "backup.db";

/// A backup's private directory, locked by this process and removed when dropped.
pub struct BackupDir {
    path: PathBuf,
    /// The open directory, locked: the mark that this directory is live.
    _lock: File,
}

impl BackupDir {
    /// Makes a fresh directory (mode 0700) under `parent`, locked by this process, with an
    /// empty snapshot file (mode 0600) for the store to write into.
    pub fn create(parent: &Path) -> io::Result<Self> {
        let path = parent.join(format!("{PREFIX}{}", uuid::Uuid::new_v4()));
        DirBuilder::new().mode(0o700).create(&path)?;
        let lock = match File::open(&path).and_then(|dir| dir.lock().map(|()| dir)) {
            Ok(lock) => lock,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&path);
                return Err(error);
            }
        };
        // From here on, dropping `dir` removes the directory, whatever fails next.
        let dir = Self { path, _lock: lock };
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.snapshot())?;
        Ok(dir)
    }

    /// The file the snapshot is written into.
    pub fn snapshot(&self) -> PathBuf {
        self.path.join(SNAPSHOT)
    }
}

impl Drop for BackupDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), %error, "could not remove a backup's directory");
        }
    }
}

/// Removes the backup directories under `parent` that no live process holds (left by one
/// that died mid-backup), and returns how many it removed. Anything else is left alone:
/// other names, symbolic links, directories this user cannot open, live backups.
pub fn sweep_leftovers(parent: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(parent)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let ours = name
            .to_str()
            .and_then(|name| name.strip_prefix(PREFIX))
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok());
        // `file_type` does not follow links: a link named like ours is not ours.
        if !ours || !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        let path = entry.path();
        let Ok(dir) = File::open(&path) else { continue };
        if dir.try_lock().is_err() {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed += 1,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "could not remove a backup left over");
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_backup_directory_is_private_and_gone_when_dropped() {
        let parent = tempfile::tempdir().unwrap();
        let dir = BackupDir::create(parent.path()).unwrap();
        let snapshot = dir.snapshot();
        assert_eq!(mode(snapshot.parent().unwrap()), 0o700);
        assert_eq!(mode(&snapshot), 0o600);
        assert_eq!(std::fs::metadata(&snapshot).unwrap().len(), 0);
        drop(dir);
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_sweep_takes_unheld_backup_directories_only() {
        let parent = tempfile::tempdir().unwrap();
        let left = parent
            .path()
            .join(format!("{PREFIX}{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&left).unwrap();
        std::fs::write(left.join(SNAPSHOT), b"a copy").unwrap();
        let live = BackupDir::create(parent.path()).unwrap();
        let other = parent.path().join(format!("{PREFIX}notes"));
        std::fs::create_dir(&other).unwrap();
        let link = parent
            .path()
            .join(format!("{PREFIX}{}", uuid::Uuid::new_v4()));
        std::os::unix::fs::symlink(&other, &link).unwrap();

        assert_eq!(sweep_leftovers(parent.path()).unwrap(), 1);
        assert!(!left.exists());
        assert!(live.snapshot().exists(), "a live backup stays");
        assert!(other.exists() && link.exists(), "not ours");
    }
}
