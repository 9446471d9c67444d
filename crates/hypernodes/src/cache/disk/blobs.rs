//! Large values as content-addressed files, `blobs/<2 hex>/<62 hex>` named by the BLAKE3 hash of
//! their bytes. A file is written under an unpredictable name in `tmp/` (created with
//! `O_CREAT | O_EXCL | O_NOFOLLOW`, so a planted symlink is never followed) and renamed into place
//! (a rename replaces a symlink rather than writing through it), before the index row naming it.
//! The hot file and the key map use the same helpers: temporary files, opening without following
//! a symlink, and telling whether a file was replaced ([`identity`], [`still_in_place`]).

use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The directory of blob files.
pub(super) const BLOBS: &str = "blobs";
/// The directory of temporary files.
pub(super) const TMP: &str = "tmp";

/// The path of the blob whose content hashes to `sum`.
pub(super) fn path(root: &Path, sum: &[u8; 32]) -> PathBuf {
    let hex = blake3::Hash::from_bytes(*sum).to_hex();
    root.join(BLOBS).join(&hex[..2]).join(&hex[2..])
}

/// Whether the blob for `sum` is in place (a regular file, not a symlink).
pub(super) fn exists(root: &Path, sum: &[u8; 32]) -> bool {
    std::fs::symlink_metadata(path(root, sum)).is_ok_and(|m| m.is_file())
}

fn in_place(root: &Path, sum: &[u8; 32], len: u64) -> bool {
    std::fs::symlink_metadata(path(root, sum)).is_ok_and(|m| m.is_file() && m.len() == len)
}

/// A new temporary file in `tmp/` under an unpredictable name, created with
/// `O_CREAT | O_EXCL | O_NOFOLLOW` (and `tmp/` with it when absent).
pub(super) fn create_tmp(root: &Path) -> std::io::Result<(std::fs::File, PathBuf)> {
    create_tmp_as(root, "")
}

/// [`create_tmp`] with a name that starts with `prefix` (so that files of one kind can be found).
pub(super) fn create_tmp_as(
    root: &Path,
    prefix: &str,
) -> std::io::Result<(std::fs::File, PathBuf)> {
    let tmp_dir = root.join(TMP);
    let tmp = tmp_dir.join(format!("{prefix}{}", random_name()));
    let file = match create_new(&tmp) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&tmp_dir)?;
            create_new(&tmp)?
        }
        other => other?,
    };
    Ok((file, tmp))
}

/// Renames a complete temporary file into place as the blob for `sum` (a rename replaces a symlink
/// at the destination rather than writing through it), or removes it when that blob is there.
pub(super) fn place(root: &Path, tmp: &Path, sum: &[u8; 32], len: u64) -> std::io::Result<()> {
    if in_place(root, sum, len) {
        let _ = std::fs::remove_file(tmp);
        return Ok(());
    }
    let dest = path(root, sum);
    std::fs::create_dir_all(dest.parent().expect("a blob path has a parent"))?;
    std::fs::rename(tmp, &dest)
}

/// Where an entry's payload is encoded: memory up to `limit` bytes, then a temporary file, hashing
/// the bytes as they pass (so a large value is written once and never copied in memory).
pub(super) struct Spill<'a> {
    root: &'a Path,
    limit: usize,
    mem: Vec<u8>,
    file: Option<(std::fs::File, PathBuf)>,
    hasher: blake3::Hasher,
    /// The first error of the file system (the encoding's own errors are the encoder's).
    pub io_error: Option<std::io::Error>,
}

/// A payload encoded by a [`Spill`].
pub(super) enum Spilled {
    /// Small: the bytes.
    Inline(Vec<u8>, [u8; 32]),
    /// Large: a complete temporary file, its hash and length.
    File(PathBuf, [u8; 32], u64),
}

impl<'a> Spill<'a> {
    pub(super) fn new(root: &'a Path, limit: usize) -> Self {
        Spill {
            root,
            limit,
            mem: Vec::new(),
            file: None,
            hasher: blake3::Hasher::new(),
            io_error: None,
        }
    }

    /// The encoded payload. Its file, if any, is the caller's to place or remove.
    pub(super) fn finish(self) -> Spilled {
        let sum = *self.hasher.finalize().as_bytes();
        match self.file {
            None => Spilled::Inline(self.mem, sum),
            Some((file, path)) => {
                let len = file.metadata().map_or(0, |m| m.len());
                Spilled::File(path, sum, len)
            }
        }
    }

    /// Removes the temporary file, if any (after an error).
    pub(super) fn discard(self) {
        if let Some((file, path)) = self.file {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Write for Spill<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() && self.mem.len() + buf.len() <= self.limit {
            self.mem.extend_from_slice(buf);
            self.hasher.update(buf);
            return Ok(());
        }
        let result = (|| {
            if self.file.is_none() {
                let (mut f, p) = create_tmp(self.root)?;
                let spilled = f.write_all(&self.mem);
                self.file = Some((f, p));
                spilled?;
                self.mem = Vec::new();
            }
            let (f, _) = self.file.as_mut().expect("created above");
            f.write_all(buf)
        })();
        if let Err(e) = result {
            let copy = std::io::Error::new(e.kind(), e.to_string());
            self.io_error.get_or_insert(e);
            return Err(copy);
        }
        if buf.len() >= 1 << 20 {
            super::trust::update_large(&mut self.hasher, buf);
        } else {
            self.hasher.update(buf);
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads the blob for `sum` (not through a symlink).
pub(super) fn read(root: &Path, sum: &[u8; 32]) -> std::io::Result<Vec<u8>> {
    let mut file = open_no_follow(&path(root, sum))?;
    let mut out = Vec::with_capacity(file.metadata().map_or(0, |m| m.len() as usize));
    file.read_to_end(&mut out)?;
    Ok(out)
}

/// Removes the blob for `sum` (best effort).
pub(super) fn remove(root: &Path, sum: &[u8; 32]) {
    let _ = std::fs::remove_file(path(root, sum));
}

/// Every blob file under `root`, with its hash when its name is one.
pub(super) fn list(root: &Path) -> Vec<(PathBuf, Option<[u8; 32]>)> {
    let mut out = Vec::new();
    let Ok(shards) = std::fs::read_dir(root.join(BLOBS)) else {
        return out;
    };
    for shard in shards.flatten() {
        let prefix = shard.file_name().to_string_lossy().into_owned();
        let Ok(files) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = format!("{prefix}{}", f.file_name().to_string_lossy());
            let sum = blake3::Hash::from_hex(name.as_bytes())
                .ok()
                .map(|h| *h.as_bytes());
            out.push((f.path(), sum));
        }
    }
    out
}

/// A name nobody can guess: 128 bits from std's randomly keyed SipHash, plus the process id.
fn random_name() -> String {
    format!(
        "{:016x}{:016x}.{}",
        random_u64(),
        random_u64(),
        std::process::id()
    )
}

/// 64 bits nobody can guess (std's randomly keyed SipHash over a counter and the time).
pub(super) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(unix)]
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(path)
}

#[cfg(not(unix))]
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
}

/// Opens `path` for reading, never through a symlink and without waiting for a writer when a FIFO
/// was planted there (its read then finds nothing, which the entry's check refuses).
pub(super) fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    open_no_follow_as(path, false)
}

/// [`open_no_follow`], for writing too when `write`.
#[cfg(unix)]
pub(super) fn open_no_follow_as(path: &Path, write: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Opens `path` for reading (for writing too when `write`).
#[cfg(not(unix))]
pub(super) fn open_no_follow_as(path: &Path, write: bool) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
}

/// A file's device and inode numbers ((0, 0) where the platform has none).
pub(super) type Identity = (u64, u64);

/// The identity of the file `meta` describes.
#[cfg(unix)]
pub(super) fn identity(meta: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
pub(super) fn identity(_: &std::fs::Metadata) -> Identity {
    (0, 0)
}

/// Whether the file at `path` (itself, not what a symlink there names) is still the one with
/// identity `id`: false once it was removed or replaced.
pub(super) fn still_in_place(path: &Path, id: Identity) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| identity(&m) == id)
}
