//! A short-lived cache of listings, one per scope (an organization), so that a refresh of
//! many objects costs one listing per organization instead of one GET per object (SPEC §6).
//!
//! - A listing lives for the cache's TTL ([`ListCache::DEFAULT_TTL`], 30 s) from the moment
//!   it was fetched: long enough for every refresh of one `terraform plan` to share it, short
//!   enough that a long-lived provider process does not serve old data.
//! - Concurrent callers of [`ListCache::get_or_fetch`] for the same scope wait on one fetch.
//!   A failed fetch is not cached: the next caller (or a waiter) fetches again.
//! - Any write to a scope must call [`ListCache::invalidate`]: later callers then fetch
//!   afresh. A fetch already in flight keeps serving only the callers that joined it before.
//!
//! Clients look an object up in the listing ([`ListCache::find`], by key through an index
//! built once per listing: a scan per lookup made a refresh of N objects cost N², the
//! largest per-key cost of a plan of 1,000 Atlas keys in callgrind, issue 10) and, when it is
//! absent, confirm with a real GET (it may have been created after the listing was taken).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::BackendError;

struct Slot<T> {
    cell: OnceCell<Fetched<T>>,
}

/// One listing, when it was fetched, and its index by key (built on the first
/// [`ListCache::find`]).
struct Fetched<T> {
    list: Arc<Vec<T>>,
    at: Instant,
    index: OnceLock<HashMap<String, usize>>,
}

impl<T> Fetched<T> {
    fn new(list: Vec<T>) -> Self {
        Fetched {
            list: Arc::new(list),
            at: Instant::now(),
            index: OnceLock::new(),
        }
    }
}

/// Listings by scope, each shared for a short time. See the module documentation.
pub struct ListCache<T> {
    ttl: Duration,
    slots: Mutex<HashMap<String, Arc<Slot<T>>>>,
}

impl<T> fmt::Debug for ListCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<T> Default for ListCache<T> {
    fn default() -> Self {
        Self::new(Self::DEFAULT_TTL)
    }
}

impl<T> ListCache<T> {
    /// How long a listing is served after it was fetched, unless invalidated.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

    /// An empty cache whose listings live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        ListCache {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Slot<T>>>> {
        // A panic while holding this lock cannot leave the map inconsistent: recover it.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The slot of `scope` to read: the cached one while fresh, the one being fetched by
    /// another caller, or a new, empty one.
    fn slot(&self, scope: &str) -> Arc<Slot<T>> {
        let mut slots = self.lock();
        let fresh = slots.get(scope).filter(|slot| match slot.cell.get() {
            Some(fetched) => fetched.at.elapsed() < self.ttl,
            None => true, // in flight: join it
        });
        match fresh {
            Some(slot) => Arc::clone(slot),
            None => {
                let slot = Arc::new(Slot {
                    cell: OnceCell::new(),
                });
                slots.insert(scope.to_string(), Arc::clone(&slot));
                slot
            }
        }
    }

    /// The listing of `scope`: the cached one while fresh, the one being fetched by another
    /// caller, or a new one from `fetch`.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        scope: &str,
        fetch: F,
    ) -> Result<Arc<Vec<T>>, BackendError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<T>, BackendError>>,
    {
        let slot = self.slot(scope);
        let fetched = slot
            .cell
            .get_or_try_init(|| async { fetch().await.map(Fetched::new) })
            .await?;
        Ok(Arc::clone(&fetched.list))
    }

    /// The first object of `scope`'s listing (got as by [`Self::get_or_fetch`]) whose
    /// `key_of` is `key`, or `None`. `key_of` must be the same function on every call to one
    /// cache: the index it builds is kept with the listing.
    pub async fn find<F, Fut>(
        &self,
        scope: &str,
        key: &str,
        key_of: fn(&T) -> String,
        fetch: F,
    ) -> Result<Option<T>, BackendError>
    where
        T: Clone,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<T>, BackendError>>,
    {
        let slot = self.slot(scope);
        let fetched = slot
            .cell
            .get_or_try_init(|| async { fetch().await.map(Fetched::new) })
            .await?;
        let index = fetched.index.get_or_init(|| {
            // Reversed, so that of two objects with one key the first wins, as with a scan.
            let keys = fetched.list.iter().enumerate().rev();
            keys.map(|(i, item)| (key_of(item), i)).collect()
        });
        Ok(index.get(key).and_then(|&i| fetched.list.get(i)).cloned())
    }

    /// The cached listing of `scope` if there is a fresh one, without fetching.
    pub fn peek(&self, scope: &str) -> Option<Arc<Vec<T>>> {
        let slots = self.lock();
        let fetched = slots.get(scope)?.cell.get()?;
        (fetched.at.elapsed() < self.ttl).then(|| Arc::clone(&fetched.list))
    }

    /// Stores a listing just fetched some other way (a full list call).
    pub fn put(&self, scope: &str, list: Vec<T>) {
        let slot = Arc::new(Slot {
            cell: OnceCell::new_with(Some(Fetched::new(list))),
        });
        self.lock().insert(scope.to_string(), slot);
    }

    /// Forgets the listing of `scope` (call after every write to it).
    pub fn invalidate(&self, scope: &str) {
        self.lock().remove(scope);
    }

    /// Forgets every listing.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let cache: Arc<ListCache<u32>> = Arc::new(ListCache::default());
        let fetches = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = Arc::clone(&cache);
            let fetches = Arc::clone(&fetches);
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("org", || async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(vec![1, 2, 3])
                    })
                    .await
                    .map(|l| l.len())
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 3);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn invalidate_expiry_and_errors() {
        let cache: ListCache<u32> = ListCache::new(Duration::from_millis(50));
        let err = cache
            .get_or_fetch("a", || async {
                Err(BackendError::Transport {
                    vendor: "test",
                    message: "down".into(),
                })
            })
            .await;
        assert!(err.is_err());
        assert!(cache.peek("a").is_none(), "errors are not cached");
        let l = cache
            .get_or_fetch("a", || async { Ok(vec![1]) })
            .await
            .unwrap();
        assert_eq!(*l, vec![1]);
        let l = cache
            .get_or_fetch("a", || async { Ok(vec![2]) })
            .await
            .unwrap();
        assert_eq!(*l, vec![1], "served from cache");
        cache.invalidate("a");
        let l = cache
            .get_or_fetch("a", || async { Ok(vec![3]) })
            .await
            .unwrap();
        assert_eq!(*l, vec![3], "refetched after invalidate");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(cache.peek("a").is_none());
        let l = cache
            .get_or_fetch("a", || async { Ok(vec![4]) })
            .await
            .unwrap();
        assert_eq!(*l, vec![4], "refetched after expiry");
        cache.put("b", vec![9]);
        assert_eq!(cache.peek("b").as_deref(), Some(&vec![9]));
    }

    #[tokio::test]
    async fn find_uses_the_listing_and_its_first_match() {
        let cache: ListCache<(String, u32)> = ListCache::default();
        let lower = |item: &(String, u32)| item.0.to_ascii_lowercase();
        let listing = || async {
            Ok(vec![
                ("AB".to_string(), 1),
                ("cd".to_string(), 2),
                ("ab".to_string(), 3),
            ])
        };
        let found = cache.find("org", "ab", lower, listing).await.unwrap();
        assert_eq!(
            found,
            Some(("AB".to_string(), 1)),
            "the first of two, as a scan"
        );
        let found = cache
            .find("org", "cd", lower, || async { Ok(vec![]) })
            .await
            .unwrap();
        assert_eq!(found, Some(("cd".to_string(), 2)), "served from the cache");
        assert_eq!(
            cache
                .find("org", "zz", lower, || async { Ok(vec![]) })
                .await
                .unwrap(),
            None
        );
        cache.put("org", vec![("zz".to_string(), 4)]);
        assert_eq!(
            cache
                .find("org", "zz", lower, || async { Ok(vec![]) })
                .await
                .unwrap(),
            Some(("zz".to_string(), 4)),
            "a new listing has a new index"
        );
    }
}
