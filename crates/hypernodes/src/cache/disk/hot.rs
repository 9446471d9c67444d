//! The hot file, `<cache>/hot-v1`: a copy of the index rows a process last used, so that a fresh
//! process serves its first hits without opening SQLite (whose cold open and first read cost about
//! half a millisecond, more than the rest of a short run).
//!
//! It is only ever a copy: every record is checked exactly as an index row is (its content hash,
//! and its tag, a hash or with a secret a keyed MAC of its key and content), so a corrupt, forged,
//! planted or stale record can never give a wrong hit, only a miss (the index is then read). It is
//! written at exit by a process that used entries the file did not hold, from the index rows as
//! they are inside a write transaction (so it never lists an entry that a `clear`, `prune` or
//! eviction had removed: those remove the file inside their own write transaction). It is written
//! under an unpredictable name in `tmp/` (`O_CREAT | O_EXCL | O_NOFOLLOW`) and renamed into place;
//! it is read without following a symlink.
//!
//! Layout (integers little-endian): `MAGIC`, the record count (u32), the file's length (u32), the records
//! sorted by key (each [`RECORD`] bytes: key, content hash, tag (32 bytes each), last access (f64
//! unix seconds), payload offset and length in this file (u64 each; length `u64::MAX`: the payload
//! is in its blob file), 8 bytes reserved), then the inline payloads.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::blobs;
use crate::cache::Key;

/// The hot file's name inside the cache directory.
pub(super) const HOT: &str = "hot-v1";
const MAGIC: &[u8; 8] = b"HNHOT\x001\n";
const HEADER: usize = 16;
const RECORD: usize = 32 * 3 + 8 * 4;
/// At most this many records.
pub(super) const MAX_ENTRIES: usize = 4096;
/// At most this many bytes of inline payloads in all.
pub(super) const MAX_BYTES: usize = 1 << 20;
/// A larger file was not written by us: it is ignored.
const MAX_FILE: usize = HEADER + MAX_ENTRIES * RECORD + MAX_BYTES;
/// The first read: a hot file of a few dozen small entries is read whole by it.
const FIRST_READ: usize = 8192;
const IN_BLOB: u64 = u64::MAX;

/// The path of the hot file in `root`.
pub(super) fn path(root: &Path) -> PathBuf {
    root.join(HOT)
}

/// One record as found.
pub(super) struct Record<'a> {
    pub sum: [u8; 32],
    pub tag: [u8; 32],
    pub accessed: f64,
    /// The payload; `None` when it is in the blob file named by `sum`.
    pub inline: Option<&'a [u8]>,
}

/// One record to write.
pub(super) struct Entry {
    pub key: Key,
    pub sum: [u8; 32],
    pub tag: [u8; 32],
    pub accessed: f64,
    pub inline: Option<Vec<u8>>,
}

/// A hot file read into memory.
pub(super) struct View {
    bytes: Vec<u8>,
    count: usize,
    /// The file it was read from (kept open, so that its inode is not reused while this view
    /// lives) and its identity, to tell when it was removed or replaced since.
    file: Option<(std::fs::File, blobs::Identity)>,
}

/// Why a hot file cannot be used.
#[derive(Debug)]
pub(super) enum Unusable {
    /// There is none.
    Absent,
    /// It is not a hot file of this version (damaged, planted, or too large): the reason.
    Invalid(String),
}

/// Reads the hot file in `root` (never through a symlink).
pub(super) fn load(root: &Path) -> Result<View, Unusable> {
    let mut file = match blobs::open_no_follow(&path(root)) {
        Ok(f) => f,
        // (a cache path that is a file, not a directory, is reported by the index's open)
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Err(Unusable::Absent)
        }
        Err(e) => return Err(Unusable::Invalid(e.to_string())),
    };
    let invalid = |e: std::io::Error| Unusable::Invalid(e.to_string());
    // (no stat: the header gives the length; a directory fails to read, a FIFO (opened without
    // blocking) reads nothing, and a file longer than its header says is read only that far)
    let mut bytes = vec![0; FIRST_READ];
    let n = file.read(&mut bytes).map_err(invalid)?;
    if n < HEADER || &bytes[..8] != MAGIC {
        return Err(Unusable::Invalid("not a hot file of this version".into()));
    }
    let total = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    if !(HEADER..=MAX_FILE).contains(&total) {
        return Err(Unusable::Invalid("not a hot file of this version".into()));
    }
    if total > n {
        bytes.resize(total, 0);
        file.read_exact(&mut bytes[n..]).map_err(invalid)?;
    }
    bytes.truncate(total);
    let mut view = View::parse(bytes)?;
    let id = file.metadata().map_err(invalid)?;
    view.file = Some((file, blobs::identity(&id)));
    Ok(view)
}

impl View {
    fn parse(bytes: Vec<u8>) -> Result<View, Unusable> {
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(Unusable::Invalid("not a hot file of this version".into()));
        }
        let count = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        if count > MAX_ENTRIES || HEADER + count * RECORD > bytes.len() {
            return Err(Unusable::Invalid("truncated".into()));
        }
        Ok(View {
            bytes,
            count,
            file: None,
        })
    }

    /// Whether the file it was read from is still the hot file of `root`: `false` once it was
    /// removed (by a `clear`, `prune` or eviction, in any process) or replaced by a newer one, so
    /// that a view loaded before a clear never serves an entry its object had not used before.
    /// (One `stat` of the path; the file is kept open, so its inode cannot be reused meanwhile.)
    pub(super) fn current(&self, root: &Path) -> bool {
        match &self.file {
            Some((_, id)) => blobs::still_in_place(&path(root), *id),
            None => true,
        }
    }

    fn record_at(&self, i: usize) -> &[u8] {
        let at = HEADER + i * RECORD;
        &self.bytes[at..at + RECORD]
    }

    /// The keys and last access times of the records.
    pub(super) fn keys(&self) -> impl Iterator<Item = (Key, f64)> + '_ {
        (0..self.count).map(|i| {
            let r = self.record_at(i);
            (
                r[..32].try_into().expect("32 bytes"),
                f64::from_le_bytes(r[96..104].try_into().expect("8 bytes")),
            )
        })
    }

    /// The record for `key` (a binary search), or `None`. `Err`: the record's payload lies
    /// outside the file.
    pub(super) fn find(&self, key: &Key) -> Result<Option<Record<'_>>, String> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let r = self.record_at(mid);
            match r[..32].cmp(&key[..]) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.decode(r).map(Some),
            }
        }
        Ok(None)
    }

    fn decode<'a>(&'a self, r: &'a [u8]) -> Result<Record<'a>, String> {
        let u64_at = |at: usize| u64::from_le_bytes(r[at..at + 8].try_into().expect("8 bytes"));
        let (offset, len) = (u64_at(104), u64_at(112));
        let inline = if len == IN_BLOB {
            None
        } else {
            let end = offset
                .checked_add(len)
                .filter(|&e| e <= self.bytes.len() as u64);
            match end {
                Some(end) => Some(&self.bytes[offset as usize..end as usize]),
                None => return Err("its payload lies outside the file".into()),
            }
        };
        Ok(Record {
            sum: r[32..64].try_into().expect("32 bytes"),
            tag: r[64..96].try_into().expect("32 bytes"),
            accessed: f64::from_le_bytes(r[96..104].try_into().expect("8 bytes")),
            inline,
        })
    }
}

/// Encodes `entries` (any order; sorted here) as a hot file.
fn encode(mut entries: Vec<Entry>) -> Vec<u8> {
    entries.sort_unstable_by_key(|e| e.key);
    entries.dedup_by_key(|e| e.key);
    let data: usize = entries
        .iter()
        .map(|e| e.inline.as_ref().map_or(0, Vec::len))
        .sum();
    let mut out = Vec::with_capacity(HEADER + entries.len() * RECORD + data);
    debug_assert!(HEADER + entries.len() * RECORD + data <= MAX_FILE);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    let total = HEADER + entries.len() * RECORD + data;
    out.extend_from_slice(&(total as u32).to_le_bytes());
    let mut offset = (HEADER + entries.len() * RECORD) as u64;
    for e in &entries {
        out.extend_from_slice(&e.key);
        out.extend_from_slice(&e.sum);
        out.extend_from_slice(&e.tag);
        out.extend_from_slice(&e.accessed.to_le_bytes());
        let len = e.inline.as_ref().map_or(IN_BLOB, |b| b.len() as u64);
        out.extend_from_slice(&(if len == IN_BLOB { 0 } else { offset }).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        if len != IN_BLOB {
            offset += len;
        }
    }
    for e in &entries {
        if let Some(b) = &e.inline {
            out.extend_from_slice(b);
        }
    }
    out
}

/// Writes `entries` as the hot file of `root`: to a new file with an unpredictable name in
/// `tmp/`, renamed into place (replacing, never following, whatever is there). Nothing is left
/// behind when it fails.
pub(super) fn write(root: &Path, entries: Vec<Entry>) -> std::io::Result<()> {
    let bytes = encode(entries);
    let (mut file, tmp) = blobs::create_tmp(root)?;
    let done = file
        .write_all(&bytes)
        .and_then(|()| std::fs::rename(&tmp, path(root)));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

/// Removes the hot file of `root` (an absent one is fine; a directory planted at its name is
/// removed too, or it would make every `clear` fail).
pub(super) fn remove(root: &Path) -> std::io::Result<()> {
    let path = path(root);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) => {
            std::fs::remove_dir_all(&path)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: u8, inline: Option<&[u8]>) -> Entry {
        Entry {
            key: [k; 32],
            sum: [k.wrapping_add(1); 32],
            tag: [k.wrapping_add(2); 32],
            accessed: f64::from(k),
            inline: inline.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn records_are_found_by_key_and_damage_is_refused() {
        let bytes = encode(vec![
            entry(9, Some(b"nine")),
            entry(3, None),
            entry(5, Some(b"")),
            entry(7, Some(b"seven")),
        ]);
        let v = View::parse(bytes.clone()).ok().unwrap();
        assert_eq!(v.keys().count(), 4);
        let r = v.find(&[9; 32]).unwrap().unwrap();
        assert_eq!(
            (r.inline, r.sum, r.tag, r.accessed),
            (Some(&b"nine"[..]), [10; 32], [11; 32], 9.0)
        );
        assert_eq!(v.find(&[3; 32]).unwrap().unwrap().inline, None);
        assert_eq!(v.find(&[5; 32]).unwrap().unwrap().inline, Some(&b""[..]));
        assert_eq!(
            v.find(&[7; 32]).unwrap().unwrap().inline,
            Some(&b"seven"[..])
        );
        assert!(v.find(&[4; 32]).unwrap().is_none());
        let keys: Vec<u8> = v.keys().map(|(k, _)| k[0]).collect();
        assert_eq!(keys, [3, 5, 7, 9]);
        // a payload offset pointing past the end is an error, not a panic
        let mut bad = bytes.clone();
        let at = HEADER + 3 * RECORD + 104; // the record of key 9
        bad[at..at + 8].copy_from_slice(&(u64::MAX - 2).to_le_bytes());
        assert!(View::parse(bad).ok().unwrap().find(&[9; 32]).is_err());
        // a truncated file, another magic, a count above the bound
        assert!(View::parse(bytes[..HEADER + RECORD].to_vec()).is_err());
        let mut other = bytes.clone();
        other[0] = b'X';
        assert!(View::parse(other).is_err());
        let mut many = bytes;
        many[8..12].copy_from_slice(&(MAX_ENTRIES as u32 + 1).to_le_bytes());
        assert!(View::parse(many).is_err());
    }
}
