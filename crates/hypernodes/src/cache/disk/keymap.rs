//! The key map: where the index finds a key's row. An open-addressing hash table in the file
//! `keys-v1`, from the first 8 bytes of a key to the id of its row in the index.
//!
//! Why: the index has no key index. A B-tree over random keys costs a random page per insert and
//! per lookup once it outgrows memory, so cold writes grew several times slower from a thousand
//! to a million entries; rows are now appended in id order and found through this table, whose
//! cost per entry does not depend on its size.
//!
//! The table is only a hint: a lookup reads each row a slot names and serves it only when the
//! row's own key column equals the key (then its content hash and tag are checked as always). A
//! lost, stale, torn or planted slot can make a lookup miss, never serve another key's row.
//!
//! Layout: a 64-byte header (magic, capacity, slots used, retired flag, seed), then `capacity`
//! slots of 16 bytes: the key's first 8 bytes (never 0; 0 marks an empty slot) and the row id. A
//! key's probe starts at a bucket mixed from its prefix and the table's random seed (so rows planted
//! to crowd one run are spread again by the next rebuild). Slots are written only by a process
//! holding the index's write lock, through a shared mapping that every process reads (row id first,
//! then the prefix that publishes it), and only empty slots are filled: a slot is never moved to
//! another row. When half the slots are used, the writer builds a new file in `tmp/`, renames it
//! into place and marks the old one retired; readers then map the new one (`clear` removes the
//! file, and the next commit builds one). Slots of removed rows stay until a rebuild from the index,
//! which happens when most slots name removed rows. HyperNodes never truncates a mapped file: it
//! replaces it (a file truncated in place by someone else would fault its readers).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};

use super::blobs;
use crate::cache::Key;

/// The table's file name inside the cache directory.
pub(super) const FILE: &str = "keys-v1";
const MAGIC: u64 = u64::from_le_bytes(*b"HNKEYS01");
const HEADER: u64 = 64;
const SLOT: u64 = 16;
/// The smallest table (16 KiB of slots).
pub(super) const MIN_CAPACITY: u64 = 1024;
/// The largest table a header may claim (1 TiB of slots): anything above is a damaged file.
const MAX_CAPACITY: u64 = 1 << 36;
/// Slots a probe visits at most: far above any run at half load, and a bound on the work of one
/// lookup in a damaged or planted table. A writer that finds no room within it rebuilds the table
/// (at most once per commit).
const MAX_PROBE: u64 = 4096;
/// How often a reader checks that the file it maps is still the one in place (a writer always
/// checks; a rebuild also marks the old file retired, which readers see at once).
const RECHECK: Duration = Duration::from_millis(100);

const AT_MAGIC: u64 = 0;
const AT_CAPACITY: u64 = 8;
const AT_USED: u64 = 16;
const AT_RETIRED: u64 = 24;
const AT_SEED: u64 = 32;
/// Names of tables being built in `tmp/` start with this.
const TMP_PREFIX: &str = "keys-v1.";

/// The table's file in `root`.
pub(super) fn path(root: &Path) -> PathBuf {
    root.join(FILE)
}

/// The bucket of a key: its first 8 bytes (keys are BLAKE3 hashes), never 0.
fn prefix(key: &Key) -> u64 {
    let p = u64::from_le_bytes(key[..8].try_into().expect("keys are 32 bytes"));
    p.max(1)
}

/// One mapped table file.
pub(super) struct KeyMap {
    map: MmapRaw,
    capacity: u64,
    /// Mixed into each prefix to find its bucket.
    seed: u64,
    writable: bool,
    /// The identity of the mapped file (`None`: unknown, taken to be the one in place).
    id: Option<blobs::Identity>,
    /// When a reader last checked that the file is still in place.
    checked: Mutex<Instant>,
    /// Whether this process's writer compared the table with the index since mapping it.
    vetted: std::sync::atomic::AtomicBool,
}

/// Why a writer could not place a slot.
#[derive(Debug)]
pub(super) struct Full;

impl KeyMap {
    /// Maps the table in `root`: `None` when there is none, it is not a whole, valid table, or it
    /// was retired (left in place by a process killed while removing it: the next writer builds a
    /// new one). A table this process may write is given all its blocks first (a copy may have
    /// made it sparse, and a write through the mapping into a hole on a full disk would fault).
    fn open(root: &Path) -> Option<KeyMap> {
        let (file, writable) = match blobs::open_no_follow_as(&path(root), true) {
            Ok(f) => (f, true),
            Err(_) => (blobs::open_no_follow(&path(root)).ok()?, false),
        };
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() < HEADER + MIN_CAPACITY * SLOT {
            return None;
        }
        if writable && !allocated(&meta) {
            allocate(&file, meta.len()).ok()?;
        }
        let mut options = MmapOptions::new();
        options.len(usize::try_from(meta.len()).ok()?);
        let map = if writable {
            options.map_raw(&file).ok()?
        } else {
            options.map_raw_read_only(&file).ok()?
        };
        let mut km = KeyMap {
            map,
            capacity: 0,
            seed: 0,
            writable,
            id: Some(blobs::identity(&meta)),
            checked: Mutex::new(Instant::now()),
            vetted: Default::default(),
        };
        let capacity = km.word(AT_CAPACITY).load(Ordering::Acquire);
        let whole = capacity.is_power_of_two()
            && (MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity)
            && HEADER + capacity * SLOT == meta.len();
        if km.word(AT_MAGIC).load(Ordering::Acquire) != MAGIC || !whole {
            return None;
        }
        km.capacity = capacity;
        km.seed = km.word(AT_SEED).load(Ordering::Acquire);
        if km.used() > capacity || km.retired() {
            return None;
        }
        Some(km)
    }

    /// The 8-byte word at `offset` of the mapping (aligned: the mapping starts on a page).
    fn word(&self, offset: u64) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= self.map.len() as u64);
        // SAFETY: in bounds and 8-byte aligned (checked above; the mapping is page-aligned), and
        // every access to the shared mapping goes through atomics.
        unsafe { &*(self.map.as_ptr().add(offset as usize) as *const AtomicU64) }
    }

    fn slot(&self, i: u64) -> (&AtomicU64, &AtomicU64) {
        let at = HEADER + (i & (self.capacity - 1)) * SLOT;
        (self.word(at), self.word(at + 8))
    }

    /// The slots a probe for prefix `p` visits, in order (wrapping round the table) from its
    /// bucket: the high bits of the prefix mixed with the seed (Fibonacci hashing).
    fn probe(&self, p: u64) -> impl Iterator<Item = (&AtomicU64, &AtomicU64)> {
        let bucket = self.bucket(p);
        (0..MAX_PROBE.min(self.capacity)).map(move |step| self.slot(bucket.wrapping_add(step)))
    }

    /// The slot where the probe for prefix `p` starts.
    fn bucket(&self, p: u64) -> u64 {
        let bits = self.capacity.trailing_zeros();
        (p ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)
    }

    /// Whether a writer has replaced this table (its readers map the new one).
    pub(super) fn retired(&self) -> bool {
        self.word(AT_RETIRED).load(Ordering::Acquire) != 0
    }

    /// Slots in use (live or left by removed rows).
    pub(super) fn used(&self) -> u64 {
        self.word(AT_USED).load(Ordering::Acquire)
    }

    /// The number of slots.
    pub(super) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Calls `f` with the row id of each slot whose prefix is `key`'s, in probe order, until it
    /// returns `Some` (or the probe ends at an empty slot).
    pub(super) fn find<T, E>(
        &self,
        key: &Key,
        mut f: impl FnMut(i64) -> Result<Option<T>, E>,
    ) -> Result<Option<T>, E> {
        let p = prefix(key);
        for (at, id) in self.probe(p) {
            match at.load(Ordering::Acquire) {
                0 => break,
                q if q == p => {
                    if let Some(found) = f(id.load(Ordering::Acquire) as i64)? {
                        return Ok(Some(found));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Points `key` at row `id` in the first empty slot of its probe (the caller holds the
    /// index's write lock). A used slot is never changed: a row whose commit is rolled back, or
    /// another key sharing the prefix, keeps what it had.
    pub(super) fn put(&self, key: &Key, id: i64) -> Result<(), Full> {
        assert!(self.writable, "a writer maps the key table for writing");
        self.place(prefix(key), id)?;
        self.word(AT_USED).fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Writes (prefix `p`, row `id`) into the first empty slot of `p`'s probe: the row id first,
    /// then the prefix that publishes it to readers.
    fn place(&self, p: u64, id: i64) -> Result<(), Full> {
        for (at, slot_id) in self.probe(p) {
            if at.load(Ordering::Acquire) == 0 {
                slot_id.store(id as u64, Ordering::Release);
                at.store(p, Ordering::Release);
                return Ok(());
            }
        }
        Err(Full)
    }

    /// Every used slot, as (prefix, row id).
    fn slots(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        (0..self.capacity).filter_map(|i| {
            let (at, id) = self.slot(i);
            match at.load(Ordering::Acquire) {
                0 => None,
                p => Some((p, id.load(Ordering::Acquire) as i64)),
            }
        })
    }
}

/// Whether the file in place at `root` is still the one `km` maps.
fn in_place(root: &Path, km: &KeyMap) -> bool {
    match km.id {
        Some(id) => blobs::still_in_place(&path(root), id),
        None => path(root).symlink_metadata().is_ok(),
    }
}

/// The tables mapped in this process, per cache directory.
fn maps() -> std::sync::MutexGuard<'static, HashMap<PathBuf, Arc<KeyMap>>> {
    static MAPS: OnceLock<Mutex<HashMap<PathBuf, Arc<KeyMap>>>> = OnceLock::new();
    MAPS.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The table for lookups in `root`: the one mapped, unless retired or replaced since (checked at
/// most every [`RECHECK`]); `None` when there is no valid table (lookups then miss until the next
/// commit rebuilds it).
pub(super) fn current(root: &Path) -> Option<Arc<KeyMap>> {
    let mut maps = maps();
    if let Some(km) = maps.get(root) {
        if !km.retired() {
            let mut checked = km.checked.lock().unwrap_or_else(|e| e.into_inner());
            if checked.elapsed() < RECHECK {
                return Some(km.clone());
            }
            if in_place(root, km) {
                *checked = Instant::now();
                return Some(km.clone());
            }
        }
    }
    remap(&mut maps, root, false)
}

/// Maps the table in place at `root` anew (for writing when `writer`) in `maps`, in place of the
/// one mapped before.
fn remap(
    maps: &mut HashMap<PathBuf, Arc<KeyMap>>,
    root: &Path,
    writer: bool,
) -> Option<Arc<KeyMap>> {
    maps.remove(root);
    let km = Arc::new(KeyMap::open(root).filter(|km| km.writable || !writer)?);
    maps.insert(root.to_path_buf(), km.clone());
    Some(km)
}

/// Forgets the table mapped for `root` (its directory was deleted or replaced).
pub(super) fn forget(root: &Path) {
    maps().remove(root);
}

/// The table a writer (holding the index's write lock) uses: the file in place, mapped for
/// writing; `None` when there is none, it is not valid or cannot be written.
pub(super) fn for_writer(root: &Path) -> Option<Arc<KeyMap>> {
    let mut maps = maps();
    if let Some(km) = maps.get(root) {
        if km.writable && !km.retired() && in_place(root, km) {
            return Some(km.clone());
        }
    }
    remap(&mut maps, root, true)
}

/// Whether this process's writer has yet to compare `km` with the index (once per mapping).
pub(super) fn needs_vetting(km: &KeyMap) -> bool {
    !km.vetted.swap(true, Ordering::AcqRel)
}

/// The capacity for `entries` slots at most half full (a table is grown when it would be more):
/// 2 to 4 slots, 32 to 64 bytes, per entry.
pub(super) fn capacity_for(entries: u64) -> u64 {
    entries
        .saturating_mul(2)
        .max(MIN_CAPACITY)
        .checked_next_power_of_two()
        .unwrap_or(MAX_CAPACITY)
        .min(MAX_CAPACITY)
}

/// Builds a table of `capacity` slots holding `slots` (prefix, row id) in a new file in `tmp/`,
/// renames it into place, and marks the table it replaces retired. The caller holds the index's
/// write lock. A full disk fails here (the file is allocated before it is mapped), leaving the
/// table in place as it was.
pub(super) fn build(
    root: &Path,
    capacity: u64,
    slots: impl Iterator<Item = (u64, i64)>,
) -> std::io::Result<Arc<KeyMap>> {
    remove_unfinished(root);
    let (file, tmp) = blobs::create_tmp_as(root, TMP_PREFIX)?;
    let built = (|| {
        let len = HEADER + capacity * SLOT;
        allocate(&file, len)?;
        let map = MmapOptions::new()
            .len(usize::try_from(len).map_err(std::io::Error::other)?)
            .map_raw(&file)?;
        let km = KeyMap {
            map,
            capacity,
            seed: blobs::random_u64(),
            writable: true,
            id: None,
            checked: Mutex::new(Instant::now()),
            vetted: std::sync::atomic::AtomicBool::new(true),
        };
        let mut used = 0;
        for (p, id) in slots {
            if km.place(p, id).is_ok() {
                used += 1;
            }
        }
        km.word(AT_CAPACITY).store(capacity, Ordering::Relaxed);
        km.word(AT_USED).store(used, Ordering::Relaxed);
        km.word(AT_SEED).store(km.seed, Ordering::Relaxed);
        km.word(AT_MAGIC).store(MAGIC, Ordering::Release);
        // the table in place now (any process's): retired once the new one has replaced it
        let old = KeyMap::open(root);
        let at = path(root);
        let placed = std::fs::rename(&tmp, &at).or_else(|e| {
            // an empty directory in the way (made by mistake) is removed; anything else is named
            // in the warning (every commit fails until it is gone)
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir())
                && std::fs::remove_dir(&at).is_ok()
            {
                return std::fs::rename(&tmp, &at);
            }
            Err(e)
        });
        placed.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot replace {}: {e}", at.display()))
        })?;
        if let Some(old) = old {
            retire(&old);
        }
        Ok(km)
    })();
    let mut km = match built {
        Ok(km) => km,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    km.id = file.metadata().ok().map(|m| blobs::identity(&m));
    // (the entry replaced needs no retiring: the file it maps was retired above, or earlier;
    // retiring it here could hit the new file, mapped meanwhile by a reader of this process)
    let km = Arc::new(km);
    maps().insert(root.to_path_buf(), km.clone());
    Ok(km)
}

/// Marks `km` retired, so that its readers (in every process) map the new table.
fn retire(km: &KeyMap) {
    if km.writable {
        km.word(AT_RETIRED).store(1, Ordering::Release);
    }
}

/// Builds a table from the old one's slots at `capacity` (its readers move to the new one).
pub(super) fn grow(root: &Path, old: &KeyMap, capacity: u64) -> std::io::Result<Arc<KeyMap>> {
    build(root, capacity, old.slots())
}

/// The slot entry for a row: its key's prefix and id.
pub(super) fn slot_of(key: &[u8], id: i64) -> Option<(u64, i64)> {
    let key: &Key = key.try_into().ok()?;
    Some((prefix(key), id))
}

/// Gives the file its whole length on disk before it is mapped (a write through a mapping into
/// a hole that the disk has no room for would kill the process).
#[cfg(target_os = "linux")]
fn allocate(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let len_off = libc::off_t::try_from(len).map_err(std::io::Error::other)?;
    loop {
        // SAFETY: a plain system call on an open descriptor.
        match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len_off) } {
            0 => return Ok(()),
            libc::EINTR => continue,
            libc::EOPNOTSUPP | libc::EINVAL => return write_zeros(file, len),
            e => return Err(std::io::Error::from_raw_os_error(e)),
        }
    }
}

/// Whether the file has a block for each of its bytes (no holes).
#[cfg(unix)]
fn allocated(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.blocks().saturating_mul(512) >= meta.len()
}

#[cfg(not(unix))]
fn allocated(_: &std::fs::Metadata) -> bool {
    true
}

#[cfg(not(target_os = "linux"))]
fn allocate(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    write_zeros(file, len)
}

fn write_zeros(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    use std::io::Write;
    let zeros = vec![0u8; 1 << 20];
    let mut w = file;
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        w.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    w.flush()
}

/// Removes the table in `root`, then marks it retired (its readers in every process stop using
/// it; lookups miss until the next commit builds one from the index). The caller holds the
/// index's write lock. In that order, a retired table is never left in place.
pub(super) fn discard(root: &Path) -> std::io::Result<()> {
    let old = KeyMap::open(root);
    maps().remove(root);
    match std::fs::remove_file(path(root)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    if let Some(old) = old {
        retire(&old);
    }
    Ok(())
}

/// Removes the tables a killed build left in `tmp/` (the caller holds the index's write lock, so
/// no other build is under way).
fn remove_unfinished(root: &Path) {
    let Ok(dir) = std::fs::read_dir(root.join(blobs::TMP)) else {
        return;
    };
    for entry in dir.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "hn-keymap-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    /// A key whose first 8 bytes are `p` and whose rest is `tail`.
    fn key(p: u64, tail: u8) -> Key {
        let mut k = [tail; 32];
        k[..8].copy_from_slice(&p.to_le_bytes());
        k
    }

    fn ids(map: &KeyMap, k: &Key) -> Vec<i64> {
        let mut out = Vec::new();
        map.find(k, |id| {
            out.push(id);
            Ok::<_, ()>(None::<()>)
        })
        .unwrap();
        out
    }

    #[test]
    fn keys_sharing_a_prefix_are_all_offered_in_order() {
        let root = temp_root("shared");
        let map = build(&root, MIN_CAPACITY, std::iter::empty()).unwrap();
        let (a, b, c) = (key(7, 1), key(7, 2), key(8, 1));
        map.put(&a, 1).unwrap();
        map.put(&b, 2).unwrap();
        map.put(&c, 3).unwrap();
        // the table knows prefixes only: both rows are candidates, the caller checks the key
        assert_eq!(ids(&map, &a), vec![1, 2]);
        assert_eq!(ids(&map, &b), vec![1, 2]);
        assert_eq!(ids(&map, &c), vec![3]);
        assert_eq!(ids(&map, &key(9, 1)), Vec::<i64>::new());
        assert_eq!(map.used(), 3);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_used_slot_is_never_given_to_another_row() {
        let root = temp_root("kept");
        let map = build(&root, MIN_CAPACITY, std::iter::empty()).unwrap();
        let k = key(42, 0);
        map.put(&k, 1).unwrap();
        map.put(&k, 2).unwrap();
        assert_eq!(ids(&map, &k), vec![1, 2]);
        assert_eq!(map.used(), 2);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_probe_wraps_round_the_end_of_the_table() {
        let root = temp_root("wrap");
        let map = build(&root, MIN_CAPACITY, std::iter::empty()).unwrap();
        let last = (1..u64::MAX)
            .find(|&p| map.bucket(p) == MIN_CAPACITY - 1)
            .unwrap();
        let k = key(last, 0); // the last slot
        for id in 1..=3 {
            map.put(&k, id).unwrap();
        }
        assert_eq!(ids(&map, &k), vec![1, 2, 3]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_full_run_is_reported_and_the_prefix_0_is_not_an_empty_slot() {
        let root = temp_root("full");
        let map = build(&root, MIN_CAPACITY, std::iter::empty()).unwrap();
        let k = key(0, 0); // prefix 0 is stored as 1 (0 marks an empty slot)
        for id in 0..MIN_CAPACITY as i64 {
            map.put(&k, id + 1).unwrap();
        }
        assert!(map.put(&k, 99_999).is_err());
        assert_eq!(ids(&map, &k).len(), MIN_CAPACITY as usize);
        assert_eq!(ids(&map, &key(1, 9)).len(), MIN_CAPACITY as usize);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn growing_keeps_the_slots_and_retires_only_the_old_file() {
        let root = temp_root("grow");
        let old = build(&root, MIN_CAPACITY, std::iter::empty()).unwrap();
        for i in 0..100u64 {
            old.put(&key(i * 977, 0), i as i64 + 1).unwrap();
        }
        // a reader of this process mapped the file in place
        let seen = current(&root).unwrap();
        let grown = grow(&root, &old, 4 * MIN_CAPACITY).unwrap();
        assert!(old.retired() && seen.retired());
        assert!(!grown.retired());
        assert_eq!(grown.used(), 100);
        assert_eq!(grown.capacity(), 4 * MIN_CAPACITY);
        for i in 0..100u64 {
            assert_eq!(ids(&grown, &key(i * 977, 0)), vec![i as i64 + 1]);
        }
        let now = current(&root).unwrap();
        assert!(!now.retired());
        assert_eq!(ids(&now, &key(977, 0)), vec![2]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn damaged_files_are_not_mapped() {
        let root = temp_root("damaged");
        let map = build(&root, MIN_CAPACITY, std::iter::empty()).unwrap();
        drop(map);
        forget(&root);
        let good = std::fs::read(path(&root)).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("short", good[..100].to_vec()),
            ("bad magic", {
                let mut b = good.clone();
                b[0] ^= 1;
                b
            }),
            ("capacity beyond the file", {
                let mut b = good.clone();
                b[8..16].copy_from_slice(&(2 * MIN_CAPACITY).to_le_bytes());
                b
            }),
            ("capacity not a power of two", {
                let mut b = good.clone();
                b[8..16].copy_from_slice(&(MIN_CAPACITY + 1).to_le_bytes());
                b
            }),
            ("huge capacity", {
                let mut b = good.clone();
                b[8..16].copy_from_slice(&(1u64 << 62).to_le_bytes());
                b
            }),
            ("more slots used than there are", {
                let mut b = good.clone();
                b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
                b
            }),
            ("retired", {
                let mut b = good.clone();
                b[24] = 1;
                b
            }),
        ];
        for (what, bytes) in cases {
            std::fs::write(path(&root), &bytes).unwrap();
            forget(&root);
            assert!(current(&root).is_none(), "{what}: mapped");
            assert!(for_writer(&root).is_none(), "{what}: mapped for writing");
        }
        std::fs::write(path(&root), &good).unwrap();
        forget(&root);
        assert!(current(&root).is_some());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn discarding_retires_the_mapped_file_and_removes_it() {
        let root = temp_root("discard");
        build(&root, MIN_CAPACITY, std::iter::empty()).unwrap();
        let seen = current(&root).unwrap();
        discard(&root).unwrap();
        assert!(seen.retired());
        assert!(!path(&root).exists());
        assert!(current(&root).is_none());
        discard(&root).unwrap(); // nothing there: fine
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_build_removes_the_tables_killed_builds_left_in_tmp() {
        let root = temp_root("leftover");
        std::fs::create_dir_all(root.join(blobs::TMP)).unwrap();
        let left = root.join(blobs::TMP).join(format!("{TMP_PREFIX}0123.99"));
        let other = root.join(blobs::TMP).join("0123.99");
        std::fs::write(&left, vec![0u8; 4096]).unwrap();
        std::fs::write(&other, b"a blob being written").unwrap();
        build(&root, MIN_CAPACITY, std::iter::empty()).unwrap();
        assert!(!left.exists());
        assert!(other.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_sparse_table_is_given_its_blocks_when_mapped() {
        let root = temp_root("sparse");
        build(&root, 4 * MIN_CAPACITY, std::iter::empty()).unwrap();
        forget(&root);
        let bytes = std::fs::read(path(&root)).unwrap();
        // a copy with holes: header written, the rest left unwritten
        std::fs::remove_file(path(&root)).unwrap();
        let f = std::fs::File::create(path(&root)).unwrap();
        f.set_len(bytes.len() as u64).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(&bytes[..HEADER as usize], 0).unwrap();
        drop(f);
        let meta = std::fs::metadata(path(&root)).unwrap();
        assert!(!allocated(&meta), "the test file has holes");
        assert!(current(&root).is_some());
        let meta = std::fs::metadata(path(&root)).unwrap();
        assert!(allocated(&meta), "mapped without its blocks");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn capacities_leave_room_and_stay_in_bounds() {
        assert_eq!(capacity_for(0), MIN_CAPACITY);
        assert_eq!(capacity_for(1000), 2048);
        assert_eq!(capacity_for(1024), 2048);
        assert_eq!(capacity_for(1025), 4096);
        assert_eq!(capacity_for(1 << 20), 1 << 21);
        assert_eq!(capacity_for(u64::MAX), MAX_CAPACITY);
    }
}
