//! Large values as content-addressed files, `blobs/<2 hex>/<62 hex>` named by the BLAKE3 hash of
//! their bytes. A file is written under an unpredictable name in `tmp/` (created with
//! `O_CREAT | O_EXCL | O_NOFOLLOW`, so a planted symlink is never followed) and renamed into place
//! (a rename replaces a symlink rather than writing through it), before the index row naming it.

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

/// Writes `bytes` (whose hash is `sum`) as a blob, unless a file of that length is already there
/// (same name, same content: its content is checked when read). On error nothing is left behind.
pub(super) fn write(root: &Path, sum: &[u8; 32], bytes: &[u8]) -> std::io::Result<()> {
    let dest = path(root, sum);
    if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
    {
        return Ok(());
    }
    let tmp_dir = root.join(TMP);
    let tmp = tmp_dir.join(random_name());
    let mut file = match create_new(&tmp) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&tmp_dir)?;
            create_new(&tmp)?
        }
        other => other?,
    };
    let written = file.write_all(bytes).and_then(|()| {
        drop(file);
        let parent = dest.parent().expect("a blob path has a parent");
        std::fs::create_dir_all(parent)?;
        std::fs::rename(&tmp, &dest)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
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
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bits = [0u64; 2];
    for b in &mut bits {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        *b = h.finish();
    }
    format!("{:016x}{:016x}.{}", bits[0], bits[1], std::process::id())
}

#[cfg(unix)]
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(path)
}

#[cfg(not(unix))]
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}
