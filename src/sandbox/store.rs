//! The sandbox's in-memory store of every object it emulates, its JSON persistence
//! (`--state FILE`, written atomically after each change with mode 0600, loaded at start) and the
//! generators of ids and secrets.
//!
//! The store is one [`Store`] value behind a mutex in the shared state. Each vendor keeps its
//! objects in its own field, typed by the vendor's module (`atlas::AtlasData`,
//! `braintrust::BraintrustData`, `env0::Env0Data`, `traceloop::TraceloopData`). A vendor part
//! missing from a state file (or `{}`, as written before the vendor was emulated) is seeded on
//! load from the credentials the file holds.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::atlas::AtlasData;
use super::braintrust::BraintrustData;
use super::env0::Env0Data;
use super::traceloop::TraceloopData;
use super::SandboxError;

/// The version of the state-file layout written by this sandbox.
pub(crate) const STATE_FORMAT: u32 = 1;

/// The credentials the sandbox was seeded with, one set per vendor. They are printed in the
/// start-up JSON line, persisted with `--state`, and survive `POST /_sandbox/reset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// MongoDB Atlas: a programmatic API key, a service account, and the organization they own.
    pub atlas: AtlasCredentials,
    /// Braintrust: a user API key, a service account's organization-owner service token, and
    /// their organization.
    pub braintrust: BraintrustCredentials,
    /// env0: an organization API key.
    pub env0: Env0Credentials,
    /// Traceloop: an API key allowed to create organizations.
    pub traceloop: TraceloopCredentials,
}

/// Seeded MongoDB Atlas credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtlasCredentials {
    /// Public key of the seeded programmatic API key (HTTP Digest username), 8 lowercase letters.
    pub public_key: String,
    /// Private key of the seeded programmatic API key (HTTP Digest password), UUID-like.
    pub private_key: String,
    /// Client id of the seeded service account, `mdb_sa_id_<24 hex>`.
    pub client_id: String,
    /// Client secret of the seeded service account, `mdb_sa_sk_…`.
    pub client_secret: String,
    /// Id (24 hex) of the seeded organization that owns the key and the service account.
    pub org_id: String,
}

/// Seeded Braintrust credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BraintrustCredentials {
    /// A user API key (`sk-…`), sent as `Authorization: Bearer`.
    pub api_key: String,
    /// Name of the key's organization.
    pub org_name: String,
    /// Id (UUID) of the key's organization.
    pub org_id: String,
    /// An organization-owner service token (`bt-st-…`) of the seeded service account, sent as
    /// `Authorization: Bearer`; the only kind of credential that may create service tokens.
    /// Empty in a state file written before service tokens were emulated (then seeded on load).
    #[serde(default)]
    pub service_token: String,
    /// Id (UUID) of the seeded service account, in the same organization.
    #[serde(default)]
    pub service_account_id: String,
}

impl BraintrustCredentials {
    /// A new service-token credential (the token and its service account's id).
    pub(crate) fn new_service_token() -> (String, String) {
        (format!("bt-st-{}", random_alphanumeric(48)), uuid_v4())
    }
}

/// Seeded env0 credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Env0Credentials {
    /// API key id (HTTP Basic username).
    pub api_key_id: String,
    /// API key secret (HTTP Basic password).
    pub api_key_secret: String,
    /// Id (UUID) of the key's organization.
    pub organization_id: String,
}

/// Seeded Traceloop credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceloopCredentials {
    /// API key, sent as `Authorization: Bearer`.
    pub api_key: String,
}

/// Everything the sandbox holds that outlives a request, as persisted in the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Store {
    /// Layout version ([`STATE_FORMAT`]).
    pub format: u32,
    /// The seeded credentials of every vendor.
    pub credentials: Credentials,
    /// MongoDB Atlas objects.
    pub atlas: AtlasData,
    /// Braintrust objects.
    #[serde(default)]
    pub braintrust: BraintrustData,
    /// env0 objects.
    #[serde(default)]
    pub env0: Env0Data,
    /// Traceloop objects.
    #[serde(default)]
    pub traceloop: TraceloopData,
    /// Bumped by every change; persistence writes up to a generation.
    #[serde(skip)]
    pub generation: u64,
}

impl Store {
    /// A fresh store with newly generated credentials for every vendor.
    pub(crate) fn seeded(ids: &IdGen) -> Store {
        let (atlas_credentials, atlas) = AtlasData::seeded(ids);
        let env0_credentials = Env0Credentials {
            api_key_id: random_lowercase_alphanumeric(16),
            api_key_secret: random_alphanumeric(32),
            organization_id: uuid_v4(),
        };
        let env0 = Env0Data::seeded(&env0_credentials, ids);
        let (service_token, service_account_id) = BraintrustCredentials::new_service_token();
        let braintrust_credentials = BraintrustCredentials {
            api_key: format!("sk-{}", random_alphanumeric(48)),
            org_name: "keysmith-sandbox".to_owned(),
            org_id: uuid_v4(),
            service_token,
            service_account_id,
        };
        let braintrust = BraintrustData::seeded(&braintrust_credentials);
        let credentials = Credentials {
            atlas: atlas_credentials,
            braintrust: braintrust_credentials,
            env0: env0_credentials,
            traceloop: TraceloopCredentials {
                api_key: format!("tl_{}", hex::encode(random_bytes::<16>())),
            },
        };
        Store {
            format: STATE_FORMAT,
            credentials,
            atlas,
            braintrust,
            env0,
            traceloop: TraceloopData::default(),
            generation: 0,
        }
    }

    /// Empties every vendor's objects except the seeded credentials and what they belong to.
    pub(crate) fn reset(&mut self) {
        self.atlas.reset(&self.credentials.atlas);
        self.braintrust.reset(&self.credentials.braintrust);
        self.env0.reset(&self.credentials.env0);
        self.traceloop.reset();
        self.generation += 1;
    }

    /// Seeds the objects of vendors a state file written before they were emulated lacks
    /// (their part of the file is `{}`), so the seeded credentials authenticate.
    fn seed_missing_vendors(&mut self) {
        if self.env0.seed.is_none() {
            self.env0.reset(&self.credentials.env0);
        }
        if self.braintrust.seed.is_none() {
            self.braintrust.reset(&self.credentials.braintrust);
        }
        let braintrust = &mut self.credentials.braintrust;
        if braintrust.service_token.is_empty() || braintrust.service_account_id.is_empty() {
            (braintrust.service_token, braintrust.service_account_id) =
                BraintrustCredentials::new_service_token();
            self.braintrust.seed_service_account(braintrust);
        }
    }

    /// Loads the state file, or seeds a new store (and writes it) when the file does not exist.
    pub(crate) fn load_or_seed(path: &Path, ids: &IdGen) -> Result<Store, SandboxError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let store: Store =
                    serde_json::from_slice(&bytes).map_err(|e| SandboxError::StateFile {
                        path: path.to_owned(),
                        message: e.to_string(),
                    })?;
                let mut store = store;
                if store.format != STATE_FORMAT {
                    return Err(SandboxError::StateFile {
                        path: path.to_owned(),
                        message: format!(
                            "unsupported state format {} (this sandbox writes {STATE_FORMAT})",
                            store.format
                        ),
                    });
                }
                store.seed_missing_vendors();
                Ok(store)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let store = Store::seeded(ids);
                let bytes = store.to_json()?;
                write_atomically(path, &bytes)?;
                Ok(store)
            }
            Err(e) => Err(SandboxError::Io {
                context: format!("cannot read state file {}", path.display()),
                source: e,
            }),
        }
    }

    /// The persisted JSON form.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, SandboxError> {
        serde_json::to_vec(self).map_err(|e| SandboxError::Internal(e.to_string()))
    }
}

/// Writes `bytes` to `path` atomically and privately: to a temporary file created exclusively
/// beside it (an unpredictable name, `O_CREAT | O_EXCL`, mode 0600, so a symlink or file planted
/// under any name is never written through), flushed to disk, then renamed over `path` (which
/// replaces a symlink at `path` rather than following it). On failure the temporary file is
/// removed and `path` is left as it was.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    use std::io::Write as _;
    let io = |context: String| move |source| SandboxError::Io { context, source };
    // A clash with an existing name is astronomically unlikely but harmless: draw again.
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        let tmp = temp_path(path);
        match create_exclusive(&tmp) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            Err(e) => {
                return Err(SandboxError::Io {
                    context: format!("cannot create a temporary file beside {}", path.display()),
                    source: e,
                })
            }
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io(format!("cannot write {}", tmp.display())))
        .and_then(|()| {
            drop(file);
            std::fs::rename(&tmp, path).map_err(io(format!(
                "cannot rename {} to {}",
                tmp.display(),
                path.display()
            )))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename is durable once the directory is flushed too (best effort).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// Creates `path` for writing, failing if anything (a file, a symlink) already has that name;
/// readable and writable by the owner only.
fn create_exclusive(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// `.<name>.<32 random hex>.tmp` beside `path`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    path.with_file_name(format!(".{name}.{}.tmp", hex::encode(random_bytes::<16>())))
}

/// Generates MongoDB-ObjectId-like ids: 24 lowercase hex digits that sort by creation
/// (4 bytes of Unix time, 5 random bytes fixed per process, a 3-byte counter).
#[derive(Debug)]
pub(crate) struct IdGen {
    process: [u8; 5],
    counter: AtomicU32,
}

impl IdGen {
    /// A generator with a random process part and counter start.
    pub(crate) fn new() -> IdGen {
        let mut rng = rand::thread_rng();
        IdGen {
            process: random_bytes::<5>(),
            counter: AtomicU32::new(rng.gen_range(0..0x0080_0000)),
        }
    }

    /// A new 24-hex id.
    pub(crate) fn object_id(&self) -> String {
        let secs = time::OffsetDateTime::now_utc().unix_timestamp();
        let secs = u32::try_from(secs.max(0)).unwrap_or(u32::MAX);
        let count = self.counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&secs.to_be_bytes());
        bytes[4..9].copy_from_slice(&self.process);
        bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
        hex::encode(bytes)
    }
}

/// `N` random bytes.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// A random version-4 UUID, lowercase, hyphenated.
pub(crate) fn uuid_v4() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `len` random characters from `alphabet`.
fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// `len` random lowercase ASCII letters (Atlas public keys are 8 of them).
pub(crate) fn random_lowercase(len: usize) -> String {
    random_from(b"abcdefghijklmnopqrstuvwxyz", len)
}

/// `len` random lowercase letters and digits.
pub(crate) fn random_lowercase_alphanumeric(len: usize) -> String {
    random_from(b"abcdefghijklmnopqrstuvwxyz0123456789", len)
}

/// `len` random ASCII letters and digits.
pub(crate) fn random_alphanumeric(len: usize) -> String {
    random_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        len,
    )
}

/// The current time as RFC 3339 (UTC, second precision), e.g. `2026-01-02T03:04:05Z`.
pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// A Unix time (seconds) as RFC 3339 UTC.
pub(crate) fn rfc3339_at(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// The current Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_24_hex_and_increase() {
        let ids = IdGen::new();
        let a = ids.object_id();
        let b = ids.object_id();
        assert_eq!(a.len(), 24);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        // Same second, same process: the counter orders them (unless it wrapped).
        assert!(a < b || a[18..] == *"ffffff");
    }

    #[test]
    fn uuids_have_the_version_4_shape() {
        let u = uuid_v4();
        let parts: Vec<_> = u.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn seeded_store_round_trips_through_json() {
        let ids = IdGen::new();
        let store = Store::seeded(&ids);
        let json = store.to_json().unwrap();
        let back: Store = serde_json::from_slice(&json).unwrap();
        assert_eq!(back.credentials, store.credentials);
        assert_eq!(back.atlas.orgs.len(), 1);
    }

    fn scratch_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("keysmith-store-{}", uuid_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    #[test]
    fn the_state_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = scratch_dir();
        let path = dir.join("state.json");
        // An older sandbox left it world-readable: the rewrite makes it private.
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomically(&path, b"secret").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_never_followed() {
        let dir = scratch_dir();
        let path = dir.join("state.json");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        // Every name an attacker can predict: the old `FILE.tmp.<pid>` and plain `FILE.tmp`.
        for name in [
            format!("state.json.tmp.{}", std::process::id()),
            "state.json.tmp".to_owned(),
            ".state.json.tmp".to_owned(),
        ] {
            std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
        }
        write_atomically(&path, b"secret").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        assert!(!std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        // The exclusive create itself refuses an existing name, symlink or not.
        let planted = dir.join("planted");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let err = create_exclusive(&planted).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = scratch_dir();
        // A directory in the way: the rename fails.
        let path = dir.join("state.json");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        assert!(write_atomically(&path, b"secret").is_err());
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"], "leftovers: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_names_are_unpredictable_and_beside_the_target() {
        let path = Path::new("/some/dir/state.json");
        let names: Vec<PathBuf> = (0..64).map(|_| temp_path(path)).collect();
        let pid = std::process::id().to_string();
        let mut randoms = std::collections::BTreeSet::new();
        for name in &names {
            assert_eq!(name.parent(), path.parent());
            let file = name.file_name().unwrap().to_string_lossy().into_owned();
            let random = file
                .strip_prefix(".state.json.")
                .and_then(|rest| rest.strip_suffix(".tmp"))
                .unwrap_or_else(|| panic!("{file:?} is not .state.json.<random>.tmp"));
            assert!(
                random.len() == 32 && random.bytes().all(|b| b.is_ascii_hexdigit()),
                "{random:?}"
            );
            randoms.insert(random.to_owned());
        }
        assert_eq!(randoms.len(), names.len(), "names repeat");
        // Not built from the process id: 32 random hex digits hold a 3- or 4-digit pid by
        // chance about once in 150 names, so it may be in one of them, not in all.
        assert!(
            !randoms.iter().all(|r| r.contains(&pid)),
            "every name holds pid {pid}"
        );
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = std::env::temp_dir().join(format!("keysmith-store-{}", uuid_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
