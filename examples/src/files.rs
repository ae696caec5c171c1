//! Creating and replacing the files the tools write, without symlink games.
//!
//! A dump holds everything the kernel held, so every file with dump data or a kernel log
//! is created owner-only (`0600`), the mode makedumpfile's `open_dump_file` passes to
//! `open(2)` (`S_IRUSR|S_IWUSR`). Creation is exclusive and never follows a symbolic link
//! (`O_CREAT|O_EXCL|O_NOFOLLOW` through `rustix`): a link planted at the output path is an
//! error, and `-f` removes the path's own directory entry (a file or a link, never what a
//! link points to) before creating a new file there. Configuration files are replaced the
//! way a careful editor does: a new file beside the old one, created `0600` exclusively,
//! given the old one's mode and owner, flushed to disk and renamed over it.

use std::fs::{File, Metadata, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// The mode of files holding dump data or a kernel log: read and write for the owner only.
pub const PRIVATE: u32 = 0o600;

/// Creates `path`, which must not exist (not even as a dangling symbolic link), with
/// `mode` before the umask. The returned file is open for reading and writing.
fn create_new(path: &Path, mode: u32) -> std::io::Result<File> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(mode))?;
    Ok(File::from(fd))
}

/// What is at `path` now, for an error message: "a symbolic link to X", "a directory", ...
fn what_is_there(path: &Path) -> String {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(path) {
            Ok(t) => format!("a symbolic link to {}", t.display()),
            Err(_) => "a symbolic link".into(),
        },
        Ok(m) if m.is_dir() => "a directory".into(),
        Ok(m) if m.is_file() => "a file".into(),
        Ok(_) => "a special file".into(),
        Err(_) => "something".into(),
    }
}

/// Removes the directory entry at `path` when it is a file or a symbolic link (the link
/// itself, not its target); nothing there is fine; anything else is an error.
fn remove_entry(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", path.display())),
        Ok(m) if m.is_file() || m.file_type().is_symlink() => match std::fs::remove_file(path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(format!(
                "{}: cannot remove the existing {} to replace it: {e}",
                path.display(),
                what_is_there(path)
            )),
            _ => Ok(()),
        },
        Ok(_) => Err(format!(
            "{}: is {}; -f replaces only a file or a symbolic link",
            path.display(),
            what_is_there(path)
        )),
    }
}

/// Creates the output file `path` for dump data or a kernel log: mode `0600` whatever the
/// umask, never through a symbolic link. An existing `path` (a dangling link included) is
/// an error naming it unless `replace` (makedumpfile's `-f`), which removes the path's own
/// directory entry first: a link is removed, its target left alone.
pub fn create_private(path: &Path, replace: bool) -> Result<File, String> {
    if replace {
        remove_entry(path)?;
    }
    let file = create_new(path, PRIVATE).map_err(|e| {
        if e.kind() == ErrorKind::AlreadyExists {
            let what = what_is_there(path);
            if replace {
                format!(
                    "{}: {what} appeared while it was being replaced; not writing to it",
                    path.display()
                )
            } else {
                format!(
                    "{}: already exists ({what}); not overwriting it (-f replaces the path itself)",
                    path.display()
                )
            }
        } else {
            format!("{}: {e}", path.display())
        }
    })?;
    // The umask can only have taken bits away (0277 would leave the owner unable to
    // write it later); make the mode exact.
    file.set_permissions(Permissions::from_mode(PRIVATE))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file)
}

/// The mode and owner a replacing file gets.
#[derive(Debug, Clone, Copy)]
pub enum Perms<'a> {
    /// `0666` less the umask, as `creat(2)` would make it (metadata such as `--stats-json`).
    Umask,
    /// Exactly this mode, owned by whoever runs the tool.
    Exactly(u32),
    /// The mode and owner of the file being replaced or backed up.
    SameAs(&'a Metadata),
}

/// Permission bits of `meta` (no file type).
fn mode_of(meta: &Metadata) -> u32 {
    meta.mode() & 0o7777
}

/// Gives `file` its mode and owner; the owner first, as `chown` may clear set-id bits.
fn set_perms(file: &File, perms: Perms<'_>) -> std::io::Result<()> {
    match perms {
        Perms::Umask => Ok(()),
        Perms::Exactly(mode) => file.set_permissions(Permissions::from_mode(mode)),
        Perms::SameAs(meta) => {
            std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))?;
            file.set_permissions(Permissions::from_mode(mode_of(meta)))
        }
    }
}

/// Writes `contents` to a new file created exclusively at `path`, with `perms`, flushed to
/// disk. On failure the new file is removed again.
fn write_new(path: &Path, contents: &[u8], perms: Perms<'_>) -> std::io::Result<()> {
    let initial = match perms {
        Perms::Umask => 0o666,
        Perms::Exactly(_) | Perms::SameAs(_) => PRIVATE,
    };
    let mut file = create_new(path, initial)?;
    let done = file
        .write_all(contents)
        .and_then(|()| set_perms(&file, perms))
        .and_then(|()| file.sync_all());
    if done.is_err() {
        let _ = std::fs::remove_file(path);
    }
    done
}

/// Copies the file `src` (whose metadata is `meta`) to `dst`, which must not exist: `dst`
/// is created `0600` exclusively, filled, then given `src`'s mode and owner, so a backup is
/// never more readable than what it backs up. An existing `dst` gives
/// [`ErrorKind::AlreadyExists`] (the caller picks another name).
pub fn copy_like(src: &Path, meta: &Metadata, dst: &Path) -> std::io::Result<()> {
    let data = std::fs::read(src)?;
    write_new(dst, &data, Perms::SameAs(meta))
}

/// Replaces `path` with `contents`: a new file beside it (`.NAME.TAG.PID.tmp`, created
/// exclusively) with `perms`, flushed to disk and renamed over `path`, then the directory
/// flushed. A symbolic link at `path` is replaced, not followed (`rename(2)` replaces the
/// directory entry); readers see the old file or the new one, never a mix.
pub fn replace(path: &Path, contents: &[u8], perms: Perms<'_>, tag: &str) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.{tag}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    write_new(&tmp, contents, perms).map_err(|e| format!("{}: {e}", tmp.display()))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("{}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!("kdump-files-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn private_files_are_0600_and_exclusive() {
        let d = Dir::new("private");
        let p = d.0.join("dump");
        create_private(&p, false).unwrap().write_all(b"x").unwrap();
        assert_eq!(mode(&p), 0o600);
        let e = create_private(&p, false).unwrap_err();
        assert!(e.contains("already exists (a file)"), "{e}");
        std::fs::set_permissions(&p, Permissions::from_mode(0o644)).unwrap();
        create_private(&p, true).unwrap();
        assert_eq!(mode(&p), 0o600);
        assert_eq!(std::fs::read(&p).unwrap(), b"");
    }

    #[test]
    fn links_are_replaced_not_followed() {
        let d = Dir::new("links");
        let target = d.0.join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = d.0.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = create_private(&link, false).unwrap_err();
        assert!(e.contains("a symbolic link to"), "{e}");
        create_private(&link, true)
            .unwrap()
            .write_all(b"new")
            .unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        // A hard link to someone's file: replaced, the file's data not truncated.
        let hard = d.0.join("hard");
        std::fs::hard_link(&target, &hard).unwrap();
        create_private(&hard, true)
            .unwrap()
            .write_all(b"new")
            .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert_eq!(std::fs::metadata(&target).unwrap().nlink(), 1);
        // A directory is never removed.
        let sub = d.0.join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(
            create_private(&sub, true)
                .unwrap_err()
                .contains("a directory")
        );
        assert!(sub.is_dir());
    }

    #[test]
    fn replace_keeps_mode_and_replaces_links() {
        let d = Dir::new("replace");
        let p = d.0.join("conf");
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, Permissions::from_mode(0o640)).unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        let bak = d.0.join("conf.bak");
        copy_like(&p, &meta, &bak).unwrap();
        assert_eq!(mode(&bak), 0o640);
        assert_eq!(
            copy_like(&p, &meta, &bak).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        replace(&p, b"new", Perms::SameAs(&meta), "test").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(mode(&p), 0o640);
        assert_eq!(std::fs::read(&bak).unwrap(), b"old");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 2);
        let target = d.0.join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = d.0.join("stats");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        replace(&link, b"{}", Perms::Umask, "test").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }
}
