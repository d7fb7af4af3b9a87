//! Listings over the index trees: pick the index that serves the filter, read a page from it,
//! and scan only when no index can answer.
//!
//! Paths, cheapest first: listed ids, an exact username, an email (exact or prefix, any case),
//! a username prefix (case-sensitive): point reads of a few candidates; then an organization (or
//! the caller's organizations) and the creation order, both read in page order. With no filter
//! beyond what the index guarantees, a page costs O(offset + limit) keys and the total comes from
//! the counts; anything else reads every candidate's record. Work that can grow with the number
//! of users runs on the scan pool: a few low-priority threads, a bounded queue, and a time budget
//! per listing, so a scan never holds an HTTP worker or starves the rest of the server.

use super::layout;
use super::Trees;
use crate::domain::{self, Filter, OrgScope, SortBy, SortValue, TextMethod, User};
use crate::store::{ListQuery, Page, StoreError};
use futures_util::future::BoxFuture;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Pages deeper than this (offset plus limit) go to the scan pool even on an index.
const INLINE_DEPTH: u64 = 10_000;
/// Listings waiting for a scan thread, at most.
const SCAN_QUEUE: usize = 16;

/// Where a listing's candidates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    /// Exactly these ids.
    Ids(Vec<String>),
    /// The users holding exactly this username.
    Username(String),
    /// Usernames starting with this (case-sensitive).
    UsernamePrefix(String),
    /// `idx-email` keys starting with these prefixes (lowercased, escaped).
    Emails(Vec<Vec<u8>>),
    /// These organizations' users, in creation order.
    Orgs(Vec<String>),
    /// Every live user, in creation order.
    Created,
}

impl Source {
    /// Whether candidates come out in creation order (so a page can stop early).
    fn ordered(&self) -> bool {
        matches!(self, Source::Orgs(_) | Source::Created)
    }
}

#[derive(Clone, Debug)]
struct Plan {
    source: Source,
    /// Whether every candidate passes (the index guarantees the filter and the scope), so the
    /// total comes from the counts and only the page's records are read.
    exact: bool,
}

/// The top-level conjunction of a filter.
fn terms(filter: &Filter) -> Vec<&Filter> {
    match filter {
        Filter::And(all) => all.iter().flat_map(terms).collect(),
        other => vec![other],
    }
}

fn plan(query: &ListQuery) -> Plan {
    let terms = query.filter.as_ref().map(terms).unwrap_or_default();
    let mut source = None;
    for term in &terms {
        let found = match term {
            Filter::Ids(ids) => Some(Source::Ids(ids.clone())),
            // A term that never holds (v2's TYPE_UNSPECIFIED): no candidates at all.
            Filter::Or(any) if any.is_empty() => Some(Source::Ids(Vec::new())),
            Filter::Id(t) if t.method == TextMethod::Equals && !t.ignore_case => {
                Some(Source::Ids(vec![t.value.clone()]))
            }
            Filter::Username(t) if !t.ignore_case && t.method == TextMethod::Equals => {
                Some(Source::Username(t.value.clone()))
            }
            // Keys are lowercased addresses: a case-sensitive prefix maps onto them only if
            // lowercasing it cannot change how it ends (ASCII).
            Filter::Email(t)
                if t.method == TextMethod::Equals
                    || (t.method == TextMethod::StartsWith
                        && (t.ignore_case || t.value.is_ascii())) =>
            {
                Some(Source::Emails(vec![layout::email_prefix(
                    &t.value.to_lowercase(),
                    t.method == TextMethod::Equals,
                )]))
            }
            Filter::Emails(list) => Some(Source::Emails(
                list.iter()
                    .map(|a| layout::email_prefix(&a.to_lowercase(), true))
                    .collect(),
            )),
            _ => None,
        };
        if found.is_some() {
            source = found;
            break;
        }
    }
    if source.is_none() {
        source = terms.iter().find_map(|term| match term {
            Filter::Username(t) if !t.ignore_case && t.method == TextMethod::StartsWith => {
                Some(Source::UsernamePrefix(t.value.clone()))
            }
            _ => None,
        });
    }
    let org_term = terms.iter().find_map(|term| match term {
        Filter::Organization(t) if !t.ignore_case && t.method == TextMethod::Equals => {
            Some(t.value.clone())
        }
        _ => None,
    });
    let source = source.unwrap_or_else(|| match (&org_term, &query.scope) {
        (Some(org), OrgScope::Everywhere) => Source::Orgs(vec![org.clone()]),
        (Some(org), OrgScope::Orgs(orgs)) => {
            Source::Orgs(orgs.iter().filter(|o| *o == org).take(1).cloned().collect())
        }
        (None, OrgScope::Orgs(orgs)) => {
            let mut orgs = orgs.clone();
            orgs.sort();
            orgs.dedup();
            Source::Orgs(orgs)
        }
        (None, OrgScope::Everywhere) => Source::Created,
    });
    // Exact: the index already holds only live users of the scope, and the one term (if any)
    // is the organization the index is keyed by.
    let exact = source.ordered()
        && match terms.as_slice() {
            [] => true,
            [_] => org_term.is_some(),
            _ => false,
        };
    Plan { source, exact }
}

/// Whether a listing may run on the caller's thread: bounded, small work.
fn inline(plan: &Plan, query: &ListQuery) -> bool {
    match &plan.source {
        // At most one user per id or username (their number is bounded by the request).
        Source::Ids(_) | Source::Username(_) => true,
        // Many users may share an address.
        Source::Emails(_) => false,
        Source::Orgs(_) | Source::Created => {
            plan.exact
                && query.sort == SortBy::Creation
                && query.offset.saturating_add(query.limit) <= INLINE_DEPTH
        }
        Source::UsernamePrefix(_) => false,
    }
}

pub(super) fn list(
    trees: Arc<Trees>,
    scans: &ScanPool,
    query: ListQuery,
) -> BoxFuture<'static, Result<Page, StoreError>> {
    let plan = plan(&query);
    if inline(&plan, &query) {
        let page = run(&trees, &query, &plan, &mut Budget::unbounded());
        return Box::pin(std::future::ready(page));
    }
    scans.submit(move |budget| run(&trees, &query, &plan, budget))
}

/// When a scan must stop: past its deadline, or once nobody waits for its answer.
pub(super) struct Budget<'a> {
    deadline: Option<Instant>,
    abandoned: Option<&'a dyn Fn() -> bool>,
    visited: u64,
}

impl Budget<'_> {
    fn unbounded() -> Budget<'static> {
        Budget {
            deadline: None,
            abandoned: None,
            visited: 0,
        }
    }

    /// Count one candidate; every 256, check the clock and the caller.
    pub(super) fn tick(&mut self) -> Result<(), StoreError> {
        self.visited += 1;
        if !self.visited.is_multiple_of(256) {
            return Ok(());
        }
        if self.deadline.is_some_and(|d| Instant::now() > d)
            || self.abandoned.is_some_and(|gone| gone())
        {
            return Err(StoreError::OverBudget);
        }
        Ok(())
    }
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

fn run(
    trees: &Trees,
    query: &ListQuery,
    plan: &Plan,
    budget: &mut Budget,
) -> Result<Page, StoreError> {
    // Another column than creation: every candidate must be seen before the page is known.
    if plan.source.ordered() && query.sort == SortBy::Creation {
        ordered(trees, query, plan, budget)
    } else {
        unordered(trees, query, plan, budget)
    }
}

/// Whether a record belongs in the listing.
fn passes(query: &ListQuery, user: &User) -> bool {
    domain::is_live(user)
        && (query.scope.allows(&user.org) || query.also.as_deref() == Some(user.id.as_str()))
        && query.filter.as_ref().is_none_or(|f| f.keeps(user))
}

/// The listing's `also` user when the organizations a source reads leave it out: the one
/// candidate to add to them (its record, if it passes).
fn also_outside(
    trees: &Trees,
    query: &ListQuery,
    orgs: &[String],
) -> Result<Option<User>, StoreError> {
    let Some(id) = &query.also else {
        return Ok(None);
    };
    Ok(trees
        .user(id)?
        .filter(|u| !orgs.contains(&u.org) && passes(query, u)))
}

/// A matching user's place in the listing, ordered so that the last in listing order is the
/// greatest (a max-heap of these drops the user furthest down the listing).
#[derive(PartialEq, Eq)]
struct Ranked {
    sort: SortValue,
    created: domain::Timestamp,
    id: String,
    asc: bool,
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        let order =
            (&self.sort, self.created, &self.id).cmp(&(&other.sort, other.created, &other.id));
        if self.asc {
            order
        } else {
            order.reverse()
        }
    }
}

/// How deep a page may lie in a listing that is not read in its order (`offset + limit`).
const MAX_UNORDERED_DEPTH: usize = 100_000;

/// Candidates from point reads and index ranges in no useful order: filter each, keep only the
/// first `offset + limit` in listing order (as keys, so memory stays small), count the rest.
fn unordered(
    trees: &Trees,
    query: &ListQuery,
    plan: &Plan,
    budget: &mut Budget,
) -> Result<Page, StoreError> {
    let keep = usize::try_from(query.offset.saturating_add(query.limit)).unwrap_or(usize::MAX);
    // The page's place is kept for every candidate up to it: bound the memory that takes.
    if keep > MAX_UNORDERED_DEPTH {
        return Err(StoreError::OverBudget);
    }
    let mut best: BinaryHeap<Ranked> = BinaryHeap::new();
    let mut total = 0u64;
    let mut consider = |id: &str, budget: &mut Budget| -> Result<(), StoreError> {
        budget.tick()?;
        let Some(user) = trees.user(id)? else {
            return Ok(());
        };
        if passes(query, &user) {
            total += 1;
            best.push(Ranked {
                sort: query.sort.value(&user),
                created: user.created_at,
                id: user.id,
                asc: query.asc,
            });
            if best.len() > keep {
                best.pop();
            }
        }
        Ok(())
    };
    match &plan.source {
        Source::Ids(list) => {
            let mut list: Vec<&String> = list.iter().collect();
            list.sort();
            list.dedup();
            for id in list {
                consider(id, budget)?;
            }
        }
        Source::Username(name) => {
            if let Some(id) = trees.username_holder(name)? {
                consider(&id, budget)?;
            }
        }
        Source::UsernamePrefix(prefix) => {
            for item in trees.username.scan_prefix(prefix.as_bytes()) {
                let (_, id) = item.map_err(io)?;
                consider(&String::from_utf8_lossy(&id), budget)?;
            }
        }
        Source::Emails(prefixes) => {
            // Distinct whole addresses, or one prefix: no user is in two ranges.
            let mut prefixes: Vec<&Vec<u8>> = prefixes.iter().collect();
            prefixes.sort();
            prefixes.dedup();
            for prefix in prefixes {
                for item in trees.email.scan_prefix(prefix) {
                    let (key, _) = item.map_err(io)?;
                    // The key is the escaped address, its `0x00 0x00` end, then the id.
                    let end = key
                        .windows(2)
                        .position(|w| w == [0, 0])
                        .map_or(key.len(), |i| i + 2);
                    if let Some(id) = layout::id_after(&key, end) {
                        consider(&id, budget)?;
                    }
                }
            }
        }
        Source::Orgs(orgs) => {
            let cursors = orgs
                .iter()
                .map(|org| Cursor::new(&trees.org, layout::org_prefix(org), query.asc))
                .collect();
            let mut merge = Merge::new(cursors, query.asc)?;
            while let Some(id) = merge.next_id()? {
                consider(&id, budget)?;
            }
            if let Some(user) = also_outside(trees, query, orgs)? {
                consider(&user.id, budget)?;
            }
        }
        Source::Created => {
            let mut merge = Merge::new(
                vec![Cursor::new(&trees.created, Vec::new(), query.asc)],
                query.asc,
            )?;
            while let Some(id) = merge.next_id()? {
                consider(&id, budget)?;
            }
        }
    }
    let page: Vec<Ranked> = best
        .into_sorted_vec()
        .into_iter()
        .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
        .collect();
    let mut users = Vec::with_capacity(page.len());
    for ranked in page {
        // Read again: the page is small, and only its records are kept in memory.
        if let Some(user) = trees.user(&ranked.id)?.filter(|u| passes(query, u)) {
            users.push(user);
        }
    }
    Ok(Page { total, users })
}

/// One ordered index range: `prefix` is stripped, the rest (creation time, id) is the order.
struct Cursor {
    iter: Box<dyn Iterator<Item = Result<(sled::IVec, sled::IVec), sled::Error>>>,
    prefix_len: usize,
    head: Option<Vec<u8>>,
}

impl Cursor {
    fn new(tree: &sled::Tree, prefix: Vec<u8>, asc: bool) -> Cursor {
        let prefix_len = prefix.len();
        let iter = tree.scan_prefix(prefix);
        let iter: Box<dyn Iterator<Item = _>> = if asc {
            Box::new(iter)
        } else {
            Box::new(iter.rev())
        };
        Cursor {
            iter,
            prefix_len,
            head: None,
        }
    }

    /// A cursor over one index key (a creation time and id, as the other cursors' heads).
    fn one(key: Vec<u8>) -> Cursor {
        Cursor {
            iter: Box::new(std::iter::once(Ok((
                sled::IVec::from(key),
                sled::IVec::default(),
            )))),
            prefix_len: 0,
            head: None,
        }
    }

    fn advance(&mut self) -> Result<(), StoreError> {
        self.head = match self.iter.next() {
            Some(item) => Some(
                item.map_err(io)?
                    .0
                    .get(self.prefix_len..)
                    .unwrap_or_default()
                    .to_vec(),
            ),
            None => None,
        };
        Ok(())
    }
}

/// A cursor ordered by its head, so a heap yields the next key in listing order.
struct Next {
    key: Vec<u8>,
    cursor: usize,
    asc: bool,
}

impl PartialEq for Next {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Next {}
impl PartialOrd for Next {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Next {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap pops the greatest: reverse for ascending order.
        let order = self.key.cmp(&other.key);
        if self.asc {
            order.reverse()
        } else {
            order
        }
    }
}

/// Merge index ranges into one stream of ids in listing order.
struct Merge {
    cursors: Vec<Cursor>,
    heap: BinaryHeap<Next>,
    asc: bool,
}

impl Merge {
    fn new(mut cursors: Vec<Cursor>, asc: bool) -> Result<Merge, StoreError> {
        let mut heap = BinaryHeap::new();
        for (i, c) in cursors.iter_mut().enumerate() {
            c.advance()?;
            if let Some(key) = c.head.take() {
                heap.push(Next {
                    key,
                    cursor: i,
                    asc,
                });
            }
        }
        Ok(Merge { cursors, heap, asc })
    }

    /// The next id in order.
    fn next_id(&mut self) -> Result<Option<String>, StoreError> {
        let Some(next) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(c) = self.cursors.get_mut(next.cursor) {
            c.advance()?;
            if let Some(key) = c.head.take() {
                self.heap.push(Next {
                    key,
                    cursor: next.cursor,
                    asc: self.asc,
                });
            }
        }
        // Creation time (8 bytes), then the id.
        Ok(layout::id_after(&next.key, 8))
    }
}

/// Candidates in creation order from `idx-created` or `idx-org`.
fn ordered(
    trees: &Trees,
    query: &ListQuery,
    plan: &Plan,
    budget: &mut Budget,
) -> Result<Page, StoreError> {
    let (cursors, total) = match &plan.source {
        Source::Orgs(orgs) => {
            let mut total = 0u64;
            let mut cursors = Vec::with_capacity(orgs.len() + 1);
            for org in orgs {
                total += trees.org_count(org)?;
                cursors.push(Cursor::new(&trees.org, layout::org_prefix(org), query.asc));
            }
            // The `also` user, in its place in creation order (it passed the filter).
            if let Some(user) = also_outside(trees, query, orgs)? {
                total += 1;
                cursors.push(Cursor::one(layout::created_suffix(&user)));
            }
            (cursors, total)
        }
        _ => (
            vec![Cursor::new(&trees.created, Vec::new(), query.asc)],
            trees.live_count(),
        ),
    };
    let mut merge = Merge::new(cursors, query.asc)?;
    let offset = query.offset;
    let end = offset.saturating_add(query.limit);
    let mut users = Vec::new();
    if plan.exact {
        // Every key is a listed user: skip to the page, read only its records.
        let mut at = 0u64;
        while at < end {
            budget.tick()?;
            let Some(id) = merge.next_id()? else { break };
            if at >= offset {
                // The index holds live users; a delete being applied may still show.
                if let Some(user) = trees.user(&id)?.filter(domain::is_live) {
                    users.push(user);
                }
            }
            at += 1;
        }
        return Ok(Page { total, users });
    }
    let mut matched = 0u64;
    while let Some(id) = merge.next_id()? {
        budget.tick()?;
        let Some(user) = trees.user(&id)? else {
            continue;
        };
        if !passes(query, &user) {
            continue;
        }
        if matched >= offset && matched < end {
            users.push(user);
        }
        matched += 1;
    }
    Ok(Page {
        total: matched,
        users,
    })
}

type ScanJob = Box<dyn FnOnce() + Send>;

/// The threads that run listings no index bounds.
#[derive(Debug)]
pub(super) struct ScanPool {
    queue: mpsc::SyncSender<ScanJob>,
    budget: Duration,
}

impl ScanPool {
    pub fn start(threads: usize, budget: Duration) -> Result<ScanPool, StoreError> {
        let (tx, rx) = mpsc::sync_channel::<ScanJob>(SCAN_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("userd-scan-{i}"))
                .spawn(move || {
                    // Below the HTTP workers and the shard actors: a scan takes what CPU they
                    // leave.
                    if let Err(e) = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Crossplatform(
                            thread_priority::ThreadPriorityValue::try_from(25u8)
                                .unwrap_or_default(),
                        ),
                    ) {
                        log::debug!("scan thread priority not lowered: {e:?}");
                    }
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| StoreError::Io(format!("cannot start a scan thread: {e}")))?;
        }
        Ok(ScanPool { queue: tx, budget })
    }

    /// Run `work` on a scan thread within the budget; refused at once when the queue is full.
    pub(super) fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Budget) -> Result<T, StoreError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, StoreError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let budget_len = self.budget;
        let job: ScanJob = Box::new(move || {
            let gone = || tx.is_closed();
            if gone() {
                return;
            }
            // The clock starts when the scan does, not while it waited in the queue.
            let mut budget = Budget {
                deadline: Some(Instant::now() + budget_len),
                abandoned: Some(&gone),
                visited: 0,
            };
            let page = work(&mut budget);
            let _ = tx.send(page);
        });
        match self.queue.try_send(job) {
            Ok(()) => Box::pin(async move {
                rx.await
                    .unwrap_or_else(|_| Err(StoreError::Io("a scan thread stopped".into())))
            }),
            Err(_) => Box::pin(std::future::ready(Err(StoreError::Busy))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TextMatch;

    fn query(filter: Option<Filter>, scope: OrgScope) -> ListQuery {
        ListQuery {
            sort: SortBy::Creation,
            filter,
            scope,
            offset: 0,
            limit: 10,
            asc: false,
            also: None,
        }
    }

    #[test]
    fn plans_pick_the_narrowest_index() {
        let all = OrgScope::Everywhere;
        let p = plan(&query(None, all.clone()));
        assert_eq!((p.source, p.exact), (Source::Created, true));
        let never = Filter::Or(Vec::new());
        let p = plan(&query(Some(never), all.clone()));
        assert_eq!(p.source, Source::Ids(Vec::new()));
        let org = Filter::Organization(TextMatch::equals("o1"));
        let p = plan(&query(Some(org.clone()), all.clone()));
        assert_eq!((p.source, p.exact), (Source::Orgs(vec!["o1".into()]), true));
        let p = plan(&query(Some(org.clone()), OrgScope::Orgs(vec!["o2".into()])));
        assert_eq!(p.source, Source::Orgs(vec![]), "outside the scope: nothing");
        let p = plan(&query(None, OrgScope::Orgs(vec!["b".into(), "a".into()])));
        assert_eq!(
            (p.source, p.exact),
            (Source::Orgs(vec!["a".into(), "b".into()]), true)
        );
        let name = Filter::Username(TextMatch::equals("ada"));
        let p = plan(&query(
            Some(Filter::And(vec![org.clone(), name])),
            all.clone(),
        ));
        assert_eq!((p.source, p.exact), (Source::Username("ada".into()), false));
        let contains = Filter::Email(TextMatch {
            value: "x".into(),
            method: TextMethod::Contains,
            ignore_case: true,
        });
        let p = plan(&query(Some(contains), all.clone()));
        assert_eq!((p.source, p.exact), (Source::Created, false));
        let q = query(None, all);
        assert!(inline(&plan(&q), &q));
    }
}
