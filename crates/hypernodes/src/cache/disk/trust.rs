//! The disk cache's trust model: entries are unpickled (Python) or deserialized (Rust), so whoever
//! can write into a cache directory can make the next reader run their code. A directory writable by
//! other users and not owned by this one is refused unless the user opts in; with a secret, every
//! entry is signed with a keyed BLAKE3 MAC and an entry without a valid signature is refused.

use std::path::Path;

use crate::cache::Key;

/// Environment variable holding a secret used when `DiskCache` is given none.
pub(crate) const SECRET_ENV: &str = "HYPERNODES_CACHE_SECRET";
/// Environment variable that, set to `1`, accepts a directory writable by other users.
pub(super) const TRUST_SHARED_ENV: &str = "HYPERNODES_CACHE_TRUST_SHARED";

/// Tags entries: a BLAKE3 hash (no secret) or keyed BLAKE3 MAC (secret) over the entry's key and the
/// hash of its content, so an entry is valid only under its own key (and, signed, only if made by
/// someone holding the secret).
#[derive(Clone)]
pub(super) struct Signer {
    key: Option<[u8; 32]>,
}

impl Signer {
    /// A signer with `secret` (any bytes; hashed into a 256-bit key), or none.
    pub(super) fn new(secret: Option<&[u8]>) -> Self {
        Signer {
            key: secret.map(|s| blake3::derive_key("hypernodes 2026-12 disk cache entry MAC", s)),
        }
    }

    /// Whether entries are signed with a secret.
    pub(super) fn signed(&self) -> bool {
        self.key.is_some()
    }

    /// The tag of an entry stored under `key` whose content hashes to `sum`.
    pub(super) fn tag(&self, key: &Key, sum: &[u8; 32]) -> [u8; 32] {
        let mut h = match &self.key {
            Some(k) => blake3::Hasher::new_keyed(k),
            None => blake3::Hasher::new(),
        };
        h.update(b"hypernodes cache entry v1\0");
        h.update(key);
        h.update(sum);
        *h.finalize().as_bytes()
    }

    /// Whether `tag` is valid for `key` and `sum` (compared in constant time).
    pub(super) fn check(&self, key: &Key, sum: &[u8; 32], tag: &[u8]) -> bool {
        let Ok(tag) = <[u8; 32]>::try_from(tag) else {
            return false;
        };
        blake3::Hash::from_bytes(self.tag(key, sum)) == blake3::Hash::from_bytes(tag)
    }
}

/// Hashes a large buffer, on several threads with the `rayon` feature.
pub(super) fn update_large(h: &mut blake3::Hasher, bytes: &[u8]) {
    #[cfg(feature = "rayon")]
    h.update_rayon(bytes);
    #[cfg(not(feature = "rayon"))]
    h.update(bytes);
}

/// The BLAKE3 hash of `bytes`, on several threads when they are large.
pub(super) fn content_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    if bytes.len() >= 1 << 20 {
        update_large(&mut h, bytes);
    } else {
        h.update(bytes);
    }
    *h.finalize().as_bytes()
}

/// Refuses a directory that users other than this one may write into and that this user does not
/// own (unless a secret signs the entries or `HYPERNODES_CACHE_TRUST_SHARED=1`). A path that does
/// not exist yet is fine: it will be created, owned by this user.
pub(super) fn check_directory(dir: &Path, signed: bool) -> Result<(), String> {
    if signed || std::env::var(TRUST_SHARED_ENV).is_ok_and(|v| v == "1") {
        return Ok(());
    }
    check_owner(dir)
}

#[cfg(unix)]
fn check_owner(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() == me || meta.mode() & 0o022 == 0 {
        return Ok(());
    }
    Err(format!(
        "cache directory {} is writable by other users (mode {:o}) and owned by uid {}, not by \
         you (uid {me}): cache entries are unpickled, so anyone who can write there could run \
         code in this process. Use a directory only you can write to, pass secret= to sign \
         entries, or set {TRUST_SHARED_ENV}=1 to trust it",
        dir.display(),
        meta.mode() & 0o7777,
        meta.uid(),
    ))
}

#[cfg(not(unix))]
fn check_owner(_dir: &Path) -> Result<(), String> {
    Ok(())
}
