//! Creates whose answer was lost (SPEC §6), in one place for every client: post, and after
//! an ambiguous failure find what the attempt made, prove it was this attempt's, delete (a
//! key, whose secret is lost) or adopt it (an organization, whose answer held no secret),
//! try again.
//!
//! # Never delete what you cannot prove you made
//! Many runs share an organization (two workspaces, CI runners, a person in the console), and
//! objects of the same name are normal. An object is taken for a lost attempt's only when the
//! evidence shows it:
//! - it did not exist before the attempt was sent: it is absent from the *baseline*, a listing
//!   of the scope (an organization's keys, the caller's organizations) taken once per process,
//!   before its first create there (one request; when that listing fails, nothing can be
//!   proven and nothing is ever deleted);
//! - it was created inside the attempt's window by the vendor's own clock (the listing's
//!   `Date` header calibrates ours; 3 s of slack either side for whole-second clocks, 5 minutes
//!   without a `Date`);
//! - it is the only such object for that attempt: the objects found are matched one to one
//!   with the lost attempts whose windows contain them, and every one must find its attempt.
//!
//! Objects this process created itself (their answer arrived) are never candidates, and the
//! creates of one name in one scope are fenced against a reconciliation in progress, so a
//! sibling's create is never in flight while candidates are picked.
//!
//! Anything less certain deletes nothing: the create fails with an error that names every
//! candidate (id, name, creation time) and says how to resolve it. So every credential whose
//! secret was lost is either deleted or named to the user, and no run deletes what another
//! holds.
//!
//! # Cost
//! In the no-fault case a create is one request, plus the baseline listing once per scope and
//! process. After a lost answer: one listing per look (up to three looks, backing off, while
//! the listing does not show the attempt's object yet; a look whose listing fails after its
//! own retries is tried again, twice at most, after the longest backoff), one delete per
//! proven object, one more POST.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use super::http::{HttpClient, Response, SendError};
use super::support::annotate;
use super::BackendError;

/// One object of a listing, as reconciliation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The vendor's id.
    pub id: String,
    /// Its name (Atlas `desc`).
    pub name: String,
    /// When the vendor says it was created, by the vendor's clock; `None` when it does not say.
    pub created: Option<OffsetDateTime>,
}

impl Seen {
    /// `created` from an RFC 3339 text (unreadable or absent → `None`).
    pub fn created_at(id: &str, name: &str, created: Option<&str>) -> Seen {
        Seen {
            id: id.to_string(),
            name: name.to_string(),
            created: created.and_then(|t| OffsetDateTime::parse(t.trim(), &Rfc3339).ok()),
        }
    }
}

/// A listing of a scope, with the vendor's clock offset when it sent a `Date` header.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listing {
    /// Every object of the scope.
    pub objects: Vec<Seen>,
    /// The vendor's clock minus ours, in whole seconds.
    pub clock_offset: Option<i64>,
}

/// The vendor's clock minus ours, in seconds, from a response's `Date` header.
pub(crate) fn clock_offset(resp: &Response) -> Option<i64> {
    resp.server_date()
        .map(|server| (server - OffsetDateTime::now_utc()).whole_seconds())
}

/// What a lost attempt's object becomes once proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LostPolicy {
    /// Delete it and create once more: its one-time secret is lost (API keys).
    Delete,
    /// Take it as the result: the create's answer held no secret (organizations). Further
    /// proven objects are deleted where the backend can, else named in the error.
    Adopt,
}

/// One vendor's create, as the driver needs it.
#[async_trait::async_trait]
pub(crate) trait Create: Send + Sync {
    /// What the create returns.
    type Output: Send;

    /// What is created, for messages: `API key`, `organization`.
    fn noun(&self) -> &'static str;
    /// What happens to a proven lost object.
    const POLICY: LostPolicy;

    /// The name the object is created with (compared exactly with listed names).
    fn name(&self) -> &str;
    /// Where it is created, for messages: `organization 5f…`.
    fn place(&self) -> String;
    /// The id of a created object, remembered as this process's own.
    fn id_of(output: &Self::Output) -> &str;

    /// One attempt. `Err` with `ambiguous` when the vendor may have created it anyway.
    async fn post(&self) -> Result<Self::Output, SendError>;
    /// Every object of the scope, uncached (the baseline).
    async fn list(&self) -> Result<Listing, BackendError>;
    /// The objects of the scope that may be the lost attempt's: by default [`Create::list`];
    /// a vendor that can filter by name does so.
    async fn list_named(&self) -> Result<Listing, BackendError> {
        self.list().await
    }
    /// Deletes a proven lost object (already gone = success).
    async fn delete(&self, id: &str) -> Result<(), BackendError>;
    /// The result of a create whose lost attempt made `seen` ([`LostPolicy::Adopt`] only).
    async fn adopt(&self, seen: &Seen) -> Result<Self::Output, BackendError> {
        let _ = seen;
        Err(BackendError::NotSupported {
            vendor: "keysmith",
            operation: format!("adopting a lost {}", self.noun()),
        })
    }
}

/// When a lost attempt was in flight, by our clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// Just before the request was sent.
    pub sent: OffsetDateTime,
    /// When it failed.
    pub failed: OffsetDateTime,
}

impl Window {
    /// Slack either side when the vendor's clock is known (its `Date` header and creation
    /// times may have whole seconds).
    const CALIBRATED_MARGIN: Duration = Duration::from_secs(3);
    /// Slack either side when it is not.
    const UNCALIBRATED_MARGIN: Duration = Duration::from_secs(300);

    /// Whether an object the vendor says it created at `created` (its clock) may come from
    /// this attempt, given the vendor's clock offset when known.
    pub fn contains(&self, created: OffsetDateTime, offset: Option<i64>) -> bool {
        let (offset, margin) = match offset {
            Some(o) => (o, Self::CALIBRATED_MARGIN),
            None => (0, Self::UNCALIBRATED_MARGIN),
        };
        let shift = time::Duration::seconds(offset);
        let (Some(from), Some(to)) = (
            self.sent
                .checked_add(shift)
                .and_then(|t| t.checked_sub(margin.try_into().ok()?)),
            self.failed
                .checked_add(shift)
                .and_then(|t| t.checked_add(margin.try_into().ok()?)),
        ) else {
            return false;
        };
        (from..=to).contains(&created)
    }
}

/// Ids of objects a client created itself (never candidates), compared without case.
#[derive(Debug, Default)]
pub(crate) struct OwnIds(Mutex<HashSet<String>>);

impl OwnIds {
    /// Remembers `id`.
    pub fn insert(&self, id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_ascii_lowercase());
    }

    /// Whether `id` was remembered.
    pub fn contains(&self, id: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id.to_ascii_lowercase())
    }
}

/// What the creates of one name in one scope share: a fence between creates (held shared)
/// and the reconciliation of a lost one (held exclusively), and the lost attempts of every
/// create of that name in this process, so that one reconciliation can account for the
/// objects of concurrent siblings' lost attempts too.
#[derive(Default)]
struct Slot {
    fence: tokio::sync::RwLock<()>,
    lost: Mutex<Vec<Pending>>,
}

/// One lost attempt of some create of the slot's name.
#[derive(Debug, Clone)]
struct Pending {
    /// Which create call made it.
    call: u64,
    /// Which attempt this is (unique in the reconciler).
    seq: u64,
    window: Window,
    /// The id of the object proven to be its and deleted, once found.
    deleted: Option<String>,
}

/// Ids present before this process's first create in a scope.
type Baseline = Arc<HashSet<String>>;

/// One client's reconciliation state: baselines per scope, own ids, fences.
#[derive(Default)]
pub(crate) struct Reconciler {
    baselines: Mutex<HashMap<String, Arc<OnceCell<Baseline>>>>,
    own: OwnIds,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    calls: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reconciler")
    }
}

/// How the objects found after a lost attempt came out.
enum Verdict {
    /// Nothing that may be a lost attempt's.
    Nothing,
    /// Every object found was matched to exactly one lost attempt (in [`judge`]: indexes
    /// into the windows; after [`Reconciler::look`]: the attempts' `seq`).
    Proven(Vec<(Seen, u64)>),
    /// Objects that may be a lost attempt's, but not provably.
    Unproven(Vec<Seen>),
}

impl Reconciler {
    /// The slot of one name in one scope. Slots nobody holds are dropped.
    fn slot(&self, key: String) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|_, s| Arc::strong_count(s) > 1);
        Arc::clone(slots.entry(key).or_default())
    }

    /// The baseline of `scope`, listed once per process (concurrent first creates share the
    /// listing). `None` when that listing failed: nothing can then be proven.
    async fn baseline<C: Create>(&self, scope: &str, op: &C) -> Option<Baseline> {
        let cell = {
            let mut baselines = self.baselines.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(baselines.entry(scope.to_string()).or_default())
        };
        let result = cell
            .get_or_try_init(|| async {
                op.list().await.map(|listing| {
                    Arc::new(
                        listing
                            .objects
                            .into_iter()
                            .map(|s| s.id.to_ascii_lowercase())
                            .collect::<HashSet<_>>(),
                    )
                })
            })
            .await;
        match result {
            Ok(baseline) => Some(Arc::clone(baseline)),
            Err(e) => {
                tracing::warn!(
                    scope,
                    error = %e,
                    "cannot list what exists before creating; a create whose answer is lost will not be cleaned up"
                );
                None
            }
        }
    }

    /// Creates with `op` in `scope` (an organization id, `orgs`…), reconciling lost answers
    /// as the module documentation says. At most `max_retries + 1` attempts (at least two).
    pub async fn create<C: Create>(
        &self,
        http: &HttpClient,
        scope: &str,
        op: &C,
    ) -> Result<C::Output, BackendError> {
        let baseline = self.baseline(scope, op).await;
        let slot = self.slot(format!("{scope}\n{}", op.name()));
        let call = self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = self.create_rounds(http, op, baseline, &slot, call).await;
        // This call's lost attempts are its own business from now on (its error names them).
        slot.lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p.call != call);
        result
    }

    async fn create_rounds<C: Create>(
        &self,
        http: &HttpClient,
        op: &C,
        baseline: Option<Baseline>,
        slot: &Slot,
        call: u64,
    ) -> Result<C::Output, BackendError> {
        let max_rounds = http.max_retries().max(1) + 1;
        let mut round = 0;
        loop {
            round += 1;
            let sent = OffsetDateTime::now_utc();
            let result = {
                let _create = slot.fence.read().await;
                let result = op.post().await;
                if matches!(&result, Err(e) if e.ambiguous) {
                    // Registered before the fence is released, so that a sibling's
                    // reconciliation never sees this attempt's object without its window.
                    slot.lost
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Pending {
                            call,
                            seq: self
                                .calls
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                            window: Window {
                                sent,
                                failed: OffsetDateTime::now_utc(),
                            },
                            deleted: None,
                        });
                }
                result
            };
            let error = match result {
                Ok(output) => {
                    self.own.insert(C::id_of(&output));
                    return Ok(output);
                }
                Err(SendError {
                    error,
                    ambiguous: false,
                }) => return Err(error),
                Err(SendError { error, .. }) => error,
            };
            let may_exist = format!(
                "{} named {:?} may exist in {} without its secret",
                article(op.noun()),
                op.name(),
                op.place()
            );
            if http.interrupt().is_triggered() {
                return Err(annotate(
                    error,
                    &format!("; the provider was stopped before it could check what the attempt made: {may_exist}"),
                ));
            }
            tracing::warn!(
                vendor = http.vendor(),
                round,
                error = %error,
                "a create failed without a clear outcome; reconciling"
            );
            let _reconcile = slot.fence.write().await;
            let newest_unresolved = || {
                slot.lost
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .rev()
                    .find(|p| p.call == call)
                    .is_some_and(|p| p.deleted.is_none())
            };
            if newest_unresolved() {
                match self
                    .look_persistently(http, op, baseline.as_deref(), slot, call)
                    .await
                {
                    Ok(Verdict::Nothing) => {}
                    Ok(Verdict::Unproven(candidates)) => {
                        return Err(annotate(
                            error,
                            &unproven_note::<C>(op, &candidates, baseline.is_some()),
                        ))
                    }
                    Ok(Verdict::Proven(found)) => {
                        if C::POLICY == LostPolicy::Adopt {
                            return self.adopt(http, op, &found, error).await;
                        }
                        for (seen, _) in &found {
                            tracing::warn!(
                                vendor = http.vendor(),
                                id = %seen.id,
                                "deleting an object made by a create whose answer was lost (its secret is unknown)"
                            );
                            if let Err(e) = op.delete(&seen.id).await {
                                return Err(annotate(
                                    error,
                                    &format!(
                                        "; the attempt made {} {} whose secret is lost, and deleting it failed ({e}): delete it in the console",
                                        article(op.noun()),
                                        describe(seen)
                                    ),
                                ));
                            }
                        }
                        let mut lost = slot.lost.lock().unwrap_or_else(|e| e.into_inner());
                        for (seen, seq) in found {
                            if let Some(pending) = lost.iter_mut().find(|p| p.seq == seq) {
                                pending.deleted = Some(seen.id);
                            }
                        }
                    }
                    Err(check) => {
                        return Err(annotate(
                            error,
                            &format!(
                            "; checking what the attempt made also failed ({check}): {may_exist}"
                        ),
                        ))
                    }
                }
            }
            if round >= max_rounds {
                let (deleted, unresolved): (Vec<Pending>, Vec<Pending>) = slot
                    .lost
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .filter(|p| p.call == call)
                    .cloned()
                    .partition(|p| p.deleted.is_some());
                let mut note = String::new();
                if !deleted.is_empty() {
                    let ids: Vec<String> = deleted.into_iter().filter_map(|p| p.deleted).collect();
                    note.push_str(&format!(
                        "; the {} {}(s) these attempts made were found and deleted ({})",
                        ids.len(),
                        op.noun(),
                        ids.join(", ")
                    ));
                }
                if unresolved.is_empty() {
                    note.push_str(&format!("; no {} was left behind", op.noun()));
                } else {
                    note.push_str(&format!(
                        "; {} attempt(s) left nothing keysmith could see, but {may_exist}",
                        unresolved.len()
                    ));
                }
                return Err(annotate(error, &note));
            }
        }
    }

    /// [`Self::look`], tried again (up to [`Self::CHECK_ROUNDS`] times in all, after the
    /// longest backoff) while the listing itself fails: an object whose attempt is never
    /// checked stays at the vendor without its secret, so a listing refused for a moment
    /// (a 429, a 503) must not end the check. A stop ends it at once.
    async fn look_persistently<C: Create>(
        &self,
        http: &HttpClient,
        op: &C,
        baseline: Option<&HashSet<String>>,
        slot: &Slot,
        call: u64,
    ) -> Result<Verdict, BackendError> {
        let mut round = 1;
        loop {
            let result = self.look(http, op, baseline, slot, call).await;
            if result.is_ok() || round >= Self::CHECK_ROUNDS || http.interrupt().is_triggered() {
                return result;
            }
            if let Err(e) = &result {
                tracing::warn!(vendor = http.vendor(), error = %e, "checking a lost create failed; trying again");
            }
            if http
                .pause(http.backoff().max, "checking a lost create again")
                .await
                .is_err()
            {
                return result;
            }
            round += 1;
        }
    }

    /// How many times a lost create's check is tried while its listing fails.
    const CHECK_ROUNDS: u32 = 3;

    /// Lists the scope (up to three looks while nothing is found for `call`'s newest lost
    /// attempt) and judges what it shows against every unresolved lost attempt of the slot.
    /// Proven objects come with the `seq` of the attempt they were matched to.
    async fn look<C: Create>(
        &self,
        http: &HttpClient,
        op: &C,
        baseline: Option<&HashSet<String>>,
        slot: &Slot,
        call: u64,
    ) -> Result<Verdict, BackendError> {
        let base = http.backoff().initial;
        let delays = [Duration::ZERO, base * 2, base * 4];
        let mut verdict = Verdict::Nothing;
        for (look, delay) in delays.into_iter().enumerate() {
            if look > 0 {
                http.pause(delay, "looking for a lost create again").await?;
            }
            let listing = op.list_named().await?;
            let lost = slot.lost.lock().unwrap_or_else(|e| e.into_inner()).clone();
            // Indexes of the unresolved lost attempts, and their windows.
            let open: Vec<usize> = (0..lost.len())
                .filter(|&i| lost[i].deleted.is_none())
                .collect();
            let windows: Vec<Window> = open.iter().map(|&i| lost[i].window).collect();
            let deleted: Vec<&str> = lost.iter().filter_map(|p| p.deleted.as_deref()).collect();
            let candidates: Vec<Seen> = listing
                .objects
                .into_iter()
                .filter(|s| s.name == op.name())
                .filter(|s| !self.own.contains(&s.id))
                .filter(|s| !deleted.iter().any(|d| d.eq_ignore_ascii_case(&s.id)))
                .filter(|s| baseline.is_none_or(|b| !b.contains(&s.id.to_ascii_lowercase())))
                .filter(|s| {
                    s.created
                        .is_none_or(|t| windows.iter().any(|w| w.contains(t, listing.clock_offset)))
                })
                .collect();
            verdict = match judge(
                candidates,
                baseline.is_some(),
                &windows,
                listing.clock_offset,
            ) {
                Verdict::Proven(found) => Verdict::Proven(
                    found
                        .into_iter()
                        .filter_map(|(s, w)| Some((s, lost[*open.get(w as usize)?].seq)))
                        .collect(),
                ),
                other => other,
            };
            let newest = lost.iter().rev().find(|p| p.call == call).map(|p| p.seq);
            let newest_found = match &verdict {
                Verdict::Nothing => false,
                Verdict::Unproven(_) => true,
                Verdict::Proven(found) => found.iter().any(|(_, seq)| Some(*seq) == newest),
            };
            if newest_found {
                break;
            }
        }
        Ok(verdict)
    }

    /// [`LostPolicy::Adopt`]: the first proven object is the result; the others are deleted
    /// where the backend can, else named.
    async fn adopt<C: Create>(
        &self,
        http: &HttpClient,
        op: &C,
        found: &[(Seen, u64)],
        error: BackendError,
    ) -> Result<C::Output, BackendError> {
        let Some(((keep, _), extra)) = found.split_first() else {
            return Err(error);
        };
        for (seen, _) in extra {
            tracing::warn!(
                vendor = http.vendor(),
                id = %seen.id,
                "deleting a duplicate made by a create whose answer was lost"
            );
            if let Err(e) = op.delete(&seen.id).await {
                let all: Vec<String> = found.iter().map(|(s, _)| describe(s)).collect();
                return Err(annotate(
                    error,
                    &format!(
                        "; the lost attempts made {} {}s named {:?} ({}) and removing the extra ones failed ({e}): import the one to keep and remove the others in the console",
                        found.len(),
                        op.noun(),
                        op.name(),
                        all.join("; ")
                    ),
                ));
            }
        }
        tracing::info!(
            vendor = http.vendor(),
            id = %keep.id,
            "the lost create took effect; using what it made"
        );
        let output = op.adopt(keep).await?;
        self.own.insert(&keep.id);
        Ok(output)
    }
}

/// Matches candidates to lost windows one to one (each object to an unmatched window that
/// contains it, earliest-ending first, objects in creation order). Every candidate must be
/// matched, none may lack a creation time, and there must be a baseline.
fn judge(
    mut candidates: Vec<Seen>,
    have_baseline: bool,
    lost: &[Window],
    offset: Option<i64>,
) -> Verdict {
    if candidates.is_empty() {
        return Verdict::Nothing;
    }
    if !have_baseline || candidates.iter().any(|c| c.created.is_none()) {
        return Verdict::Unproven(candidates);
    }
    candidates.sort_by_key(|c| c.created);
    let mut order: Vec<usize> = (0..lost.len()).collect();
    order.sort_by_key(|&w| lost[w].failed);
    let mut taken = vec![false; lost.len()];
    let mut proven = Vec::with_capacity(candidates.len());
    for candidate in &candidates {
        let Some(created) = candidate.created else {
            return Verdict::Unproven(candidates);
        };
        let window = order
            .iter()
            .copied()
            .find(|&w| !taken[w] && lost[w].contains(created, offset));
        match window {
            Some(w) => {
                taken[w] = true;
                proven.push((candidate.clone(), w as u64));
            }
            None => return Verdict::Unproven(candidates),
        }
    }
    Verdict::Proven(proven)
}

/// `id 5f… (name "k", created 2026-…)`.
fn describe(seen: &Seen) -> String {
    let created = seen
        .created
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "at an unknown time".to_string());
    format!("id {} (name {:?}, created {created})", seen.id, seen.name)
}

fn article(noun: &str) -> String {
    match noun.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U') => format!("an {noun}"),
        _ => format!("a {noun}"),
    }
}

/// The note of a create that found objects it cannot prove were its own.
fn unproven_note<C: Create>(op: &C, candidates: &[Seen], have_baseline: bool) -> String {
    let listed: Vec<String> = candidates.iter().map(describe).collect();
    let why = if have_baseline {
        "created by someone else at the same time (another workspace, a CI runner, a person) as well as by this attempt"
    } else {
        "the listing of what existed before could not be taken"
    };
    format!(
        "; the attempt may have created {noun} {name:?} in {place} whose secret is lost, but keysmith cannot prove which of these is its own ({why}), so it deleted nothing: {listed}. \
         To resolve: keep the ones another workspace or person holds; for each other one, either import it into this configuration \
         (its secret cannot be recovered, so rotate it) or delete it in the console; then apply again",
        noun = article(op.noun()),
        name = op.name(),
        place = op.place(),
        listed = listed.join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    fn seen(id: &str, t: Option<i64>) -> Seen {
        Seen {
            id: id.into(),
            name: "k".into(),
            created: t.map(at),
        }
    }

    #[test]
    fn windows_use_the_vendor_clock() {
        let w = Window {
            sent: at(0),
            failed: at(2),
        };
        assert!(w.contains(at(1), Some(0)));
        assert!(w.contains(at(101), Some(100)));
        assert!(!w.contains(at(10), Some(0)));
        assert!(w.contains(at(10), None));
        assert!(!w.contains(at(-4), Some(0)));
        // No overflow near the end of time.
        let end = Window {
            sent: OffsetDateTime::new_utc(
                time::Date::from_calendar_date(9999, time::Month::December, 31).unwrap(),
                time::Time::MIDNIGHT,
            ),
            failed: OffsetDateTime::new_utc(
                time::Date::from_calendar_date(9999, time::Month::December, 31).unwrap(),
                time::Time::from_hms(23, 59, 59).unwrap(),
            ),
        };
        assert!(!end.contains(at(0), Some(i64::MAX / 2)));
    }

    #[test]
    fn one_object_per_lost_attempt_is_proven() {
        let one = [Window {
            sent: at(0),
            failed: at(1),
        }];
        assert!(matches!(
            judge(vec![], true, &one, Some(0)),
            Verdict::Nothing
        ));
        assert!(matches!(
            judge(vec![seen("a", Some(0))], true, &one, Some(0)),
            Verdict::Proven(p) if p.len() == 1
        ));
        // Two objects for one attempt: someone else made one of them.
        assert!(matches!(
            judge(vec![seen("a", Some(0)), seen("b", Some(1))], true, &one, Some(0)),
            Verdict::Unproven(c) if c.len() == 2
        ));
        // No baseline, or no creation time: nothing can be proven.
        assert!(matches!(
            judge(vec![seen("a", Some(0))], false, &one, Some(0)),
            Verdict::Unproven(_)
        ));
        assert!(matches!(
            judge(vec![seen("a", None)], true, &one, Some(0)),
            Verdict::Unproven(_)
        ));
        // Two lost attempts, two objects: one each.
        let two = [
            Window {
                sent: at(0),
                failed: at(1),
            },
            Window {
                sent: at(20),
                failed: at(21),
            },
        ];
        assert!(matches!(
            judge(vec![seen("b", Some(20)), seen("a", Some(0))], true, &two, Some(0)),
            Verdict::Proven(p) if p.len() == 2
        ));
    }

    #[test]
    fn notes_name_every_candidate() {
        struct Op;
        #[async_trait::async_trait]
        impl Create for Op {
            type Output = ();
            fn noun(&self) -> &'static str {
                "API key"
            }
            const POLICY: LostPolicy = LostPolicy::Delete;
            fn name(&self) -> &str {
                "k"
            }
            fn place(&self) -> String {
                "organization o".into()
            }
            fn id_of(_: &()) -> &str {
                ""
            }
            async fn post(&self) -> Result<(), SendError> {
                Ok(())
            }
            async fn list(&self) -> Result<Listing, BackendError> {
                Ok(Listing::default())
            }
            async fn delete(&self, _: &str) -> Result<(), BackendError> {
                Ok(())
            }
        }
        let note = unproven_note(&Op, &[seen("id-1", Some(0)), seen("id-2", None)], true);
        assert!(
            note.contains("id id-1 (name \"k\", created 2027-01-15T08:00:00Z)"),
            "{note}"
        );
        assert!(
            note.contains("id id-2 (name \"k\", created at an unknown time)"),
            "{note}"
        );
        assert!(note.contains("deleted nothing"), "{note}");
        assert!(note.contains("an API key"), "{note}");
    }
}
