//! Several instances sharing one database: each says it is alive, takes its fair share of
//! the mailboxes (one reader per mailbox, by lease), gives mailboxes back when others
//! join, takes over those of an instance that died, and keeps its knowledge index in step
//! with the knowledge change log and its routing rules in step with the rules edited in
//! the panel.
//!
//! With one instance (SQLite) the same code runs and simply holds every mailbox.

use crate::config::ClusterConfig;
use crate::routing::{edits, edits::RuleFile, Classifier, KnowledgeEntry, RoutingRules};
use crate::store::{KnowledgeRow, Lease, Renewal, RuleEdit, RuleEditsVersion, Store, StoreError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// This instance's place among those sharing the database.
pub struct Cluster {
    store: Store,
    instance: String,
    lease_seconds: i64,
    mailboxes: usize,
    held: AtomicUsize,
    alive: AtomicI64,
}

/// How many of `mailboxes` one of `alive` instances should read: an even share, rounded up.
pub fn fair_share(mailboxes: usize, alive: i64) -> usize {
    let alive = usize::try_from(alive.max(1)).unwrap_or(1);
    mailboxes.div_ceil(alive)
}

impl Cluster {
    /// Joins the cluster with the configured mailbox count.
    pub fn new(store: Store, config: &ClusterConfig, mailboxes: usize) -> Arc<Self> {
        Arc::new(Self {
            store,
            instance: config.instance_name(),
            lease_seconds: config.lease_seconds.max(3) as i64,
            mailboxes,
            held: AtomicUsize::new(0),
            alive: AtomicI64::new(1),
        })
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// How often leases are renewed and free mailboxes looked for.
    pub fn renew_every(&self) -> Duration {
        Duration::from_millis((self.lease_seconds as u64 * 1000 / 3).max(500))
    }

    /// Mailboxes this instance reads now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Instances seen alive at the last heartbeat.
    pub fn alive(&self) -> i64 {
        self.alive.load(Ordering::SeqCst)
    }

    fn share(&self) -> usize {
        fair_share(self.mailboxes, self.alive())
    }

    /// Says this instance is alive and counts the others.
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        let alive = self
            .store
            .heartbeat(
                &self.instance,
                env!("CARGO_PKG_VERSION"),
                self.lease_seconds,
            )
            .await?;
        self.alive.store(alive, Ordering::SeqCst);
        Ok(())
    }

    /// The heartbeat worker: at once, then every renewal period, until `shutdown`; then
    /// says this instance has stopped.
    pub async fn keep_alive(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.heartbeat().await {
                tracing::warn!(error = %e, "heartbeat failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.renew_every()) => {}
                _ = shutdown.changed() => {}
            }
        }
        if let Err(e) = self.store.instance_stopped(&self.instance).await {
            tracing::warn!(error = %e, "could not sign off");
        }
    }

    /// Reserves room for one more mailbox within this instance's share.
    fn reserve(&self) -> bool {
        let share = self.share();
        self.held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| {
                (h < share).then_some(h + 1)
            })
            .is_ok()
    }

    /// Gives up room for one mailbox when this instance reads more than its share.
    fn shed(&self) -> bool {
        let share = self.share();
        self.held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| {
                (h > share).then(|| h - 1)
            })
            .is_ok()
    }

    /// Waits until this instance holds the mailbox's lease; `None` at shutdown.
    pub async fn wait_for_lease(
        &self,
        mailbox: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Lease> {
        let mut reported = false;
        while !*shutdown.borrow() {
            if self.reserve() {
                match self
                    .store
                    .acquire_lease(mailbox, &self.instance, self.lease_seconds)
                    .await
                {
                    Ok(Some(lease)) => {
                        tracing::info!(mailbox, fence = lease.fence, "mailbox lease taken");
                        return Some(lease);
                    }
                    Ok(None) => {
                        if !reported {
                            tracing::info!(
                                mailbox,
                                "mailbox read by another instance; standing by"
                            );
                            reported = true;
                        }
                    }
                    Err(e) => tracing::warn!(mailbox, error = %e, "cannot take mailbox lease"),
                }
                self.held.fetch_sub(1, Ordering::SeqCst);
            }
            tokio::select! {
                _ = tokio::time::sleep(self.renew_every()) => {}
                _ = shutdown.changed() => {}
            }
        }
        None
    }

    /// Runs `work` while holding `lease`: renews it every period, and tells `work` to
    /// stop (through the receiver it gets) at shutdown, when the lease is lost, or when
    /// this instance reads more than its share since others joined. Gives the lease back
    /// when `work` is done, unless it was lost.
    pub async fn hold<F, Fut>(
        &self,
        lease: Lease,
        mut shutdown: watch::Receiver<bool>,
        work: F,
    ) -> Fut::Output
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: std::future::Future,
    {
        let (stop, stopped) = watch::channel(false);
        let work = work(stopped);
        let lost = std::sync::atomic::AtomicBool::new(false);
        let shed = std::sync::atomic::AtomicBool::new(false);
        // The keeper runs beside the work, never in turn with it: a renewal waits for the
        // work's open intake transaction (which holds the lease row), so the work must go
        // on being polled meanwhile.
        let keeper = async {
            let mut renewed = Instant::now();
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.renew_every()) => {}
                    changed = shutdown.changed(), if !shutting_down => {
                        if changed.is_err() || *shutdown.borrow() {
                            shutting_down = true;
                            let _ = stop.send(true);
                        }
                        continue;
                    }
                }
                if lost.load(Ordering::SeqCst) {
                    continue;
                }
                match self.store.renew_lease(&lease, self.lease_seconds).await {
                    Ok(Renewal::Renewed) => {
                        renewed = Instant::now();
                        if !*stop.borrow() && self.shed() {
                            tracing::info!(mailbox = %lease.mailbox, "more instances now; giving this mailbox to another");
                            shed.store(true, Ordering::SeqCst);
                            let _ = stop.send(true);
                        }
                    }
                    Ok(Renewal::Lost) => {
                        tracing::warn!(mailbox = %lease.mailbox, "mailbox lease lost to another instance");
                        lost.store(true, Ordering::SeqCst);
                        let _ = stop.send(true);
                    }
                    Err(e) => {
                        tracing::warn!(mailbox = %lease.mailbox, error = %e, "cannot renew mailbox lease");
                        if renewed.elapsed().as_secs() as i64 >= self.lease_seconds {
                            lost.store(true, Ordering::SeqCst);
                            let _ = stop.send(true);
                        }
                    }
                }
            }
        };
        let output = tokio::select! {
            output = work => output,
            never = keeper => never,
        };
        let (lost, shed) = (lost.into_inner(), shed.into_inner());
        if !shed {
            self.held.fetch_sub(1, Ordering::SeqCst);
        }
        if !lost {
            if let Err(e) = self.store.release_lease(&lease).await {
                tracing::warn!(mailbox = %lease.mailbox, error = %e, "cannot give mailbox lease back");
            }
        }
        output
    }
}

/// What an index does about one entry the change log names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexChange {
    /// The index holds it as stored already.
    Nothing,
    /// A person's decision taught it elsewhere: learn it here too.
    Learn(KnowledgeEntry),
    /// Written or edited: put it in place.
    Update(KnowledgeEntry),
    /// Retired, erased or gone: take it out.
    Retire,
}

/// Decides what one logged change means for an index that holds `current`.
pub fn index_change(
    current: Option<&KnowledgeEntry>,
    stored: Option<&KnowledgeRow>,
) -> IndexChange {
    match stored {
        None => match current {
            Some(_) => IndexChange::Retire,
            None => IndexChange::Nothing,
        },
        Some(row) if row.retired => match current {
            Some(_) => IndexChange::Retire,
            None => IndexChange::Nothing,
        },
        Some(row) => match current {
            Some(held) if *held == row.entry => IndexChange::Nothing,
            None if row.origin == "staff" => IndexChange::Learn(row.entry.clone()),
            _ => IndexChange::Update(row.entry.clone()),
        },
    }
}

/// Brings the index up to date with the change log after position `after`; returns the
/// new position. One step of [`follow_knowledge`].
pub async fn catch_up(
    store: &Store,
    classifier: &Arc<Classifier>,
    mut after: i64,
) -> Result<(i64, usize), anyhow::Error> {
    let mut applied = 0;
    loop {
        let changes = store.knowledge_log_after(after, 500).await?;
        let Some(&(last, _)) = changes.last() else {
            return Ok((after, applied));
        };
        let mut ids: Vec<String> = changes.into_iter().map(|(_, id)| id).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            let stored = store.knowledge_row(&id).await?;
            let current = classifier.index().entry(&id);
            let change = index_change(current.as_deref(), stored.as_ref());
            if change == IndexChange::Nothing {
                continue;
            }
            let classifier = Arc::clone(classifier);
            tokio::task::spawn_blocking(move || match change {
                IndexChange::Learn(entry) => classifier.learn(entry).map(|_| ()),
                IndexChange::Update(entry) => classifier.update_entry(entry).map(|_| ()),
                IndexChange::Retire => {
                    classifier.retire_entry(&id);
                    Ok(())
                }
                IndexChange::Nothing => Ok(()),
            })
            .await??;
            applied += 1;
        }
        after = last;
    }
}

/// Keeps the index in step with the knowledge change log until `shutdown`, reading it
/// every `every`, starting after position `after` (read before the index was built).
pub async fn follow_knowledge(
    store: Store,
    classifier: Arc<Classifier>,
    mut after: i64,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        match catch_up(&store, &classifier, after).await {
            Ok((position, applied)) => {
                if applied > 0 {
                    tracing::info!(changes = applied, position, "knowledge index caught up");
                }
                after = position;
            }
            Err(e) => tracing::warn!(error = %e, "reading the knowledge change log failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// The routing rules in use given the panel's current edits: the configured or embedded
/// files with the edited ones in their departments' place. Edits that no longer fit the
/// files (they changed since, or the department is gone) are left out, logged, and their
/// departments returned; the files' rules apply there.
pub fn rules_with_edits(
    stored: &[RuleEdit],
    base: &[RuleFile],
    fallback: &str,
) -> anyhow::Result<(RoutingRules, Vec<String>)> {
    let stored: Vec<(&str, &str)> = stored
        .iter()
        .map(|e| (e.department.as_str(), e.source.as_str()))
        .collect();
    let (rules, left_out) = edits::effective(base, &stored, fallback)
        .map_err(|problems| anyhow::anyhow!("routing rules:\n{}", problems.join("\n")))?;
    for department in &left_out {
        tracing::error!(%department, "a rule edit from the panel no longer fits the rule files; the file's rules apply");
    }
    Ok((rules, left_out.into_iter().map(str::to_owned).collect()))
}

/// Where the rules come from, for [`follow_rules`].
#[derive(Debug, Clone)]
pub struct RuleSource {
    /// `routing.rules_dir` (None: the embedded files).
    pub rules_dir: Option<PathBuf>,
    /// `routing.fallback_department`.
    pub fallback: String,
}

impl RuleSource {
    /// The rule files as they are now: the folder's, or the embedded ones.
    pub fn files(&self) -> std::io::Result<Vec<RuleFile>> {
        crate::defaults::rule_files(self.rules_dir.as_deref())
    }
}

/// A fingerprint of rule files' names and text as read; a folder that cannot be read has
/// the fingerprint of its error, so a change either way is noticed once.
pub fn fingerprint(files: &std::io::Result<Vec<RuleFile>>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match files {
        Ok(files) => files.hash(&mut hasher),
        Err(e) => e.to_string().hash(&mut hasher),
    }
    hasher.finish()
}

/// What the rules in use were built from: the rules edited in the panel and the rule files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RulesSeen {
    pub edits: RuleEditsVersion,
    pub files: u64,
}

/// Puts the rules in use anew when the stored edits or the rule files changed since
/// `seen`; returns what it has seen now. One step of [`follow_rules`]. Rule files that do
/// not parse or no longer fit are logged once and the rules in use stay.
pub async fn refresh_rules(
    store: &Store,
    classifier: &Classifier,
    source: &RuleSource,
    seen: RulesSeen,
) -> anyhow::Result<RulesSeen> {
    // Read once: the fingerprint and the rules put in use come from the same text.
    let files = source.files();
    let now = RulesSeen {
        edits: store.rule_edits_version().await?,
        files: fingerprint(&files),
    };
    if now == seen {
        return Ok(seen);
    }
    let stored = store.current_rule_edits().await?;
    let why = if now.files == seen.files {
        "an edit in the panel"
    } else {
        "a change of the rule files"
    };
    // Only fixing the files or a restart can help; say so once, not at every look.
    let rules = files
        .map_err(anyhow::Error::from)
        .and_then(|base| rules_with_edits(&stored, &base, &source.fallback));
    match rules {
        Ok((rules, _)) => match classifier.replace_rules(rules) {
            Ok(()) => tracing::info!("routing rules reloaded after {why}"),
            Err(problem) => {
                tracing::error!(%problem, "routing rules not put in use after {why}; the rules in use stay")
            }
        },
        Err(problem) => {
            tracing::error!(%problem, "routing rules not put in use after {why}; the rules in use stay")
        }
    }
    Ok(now)
}

/// Keeps the rules in step with those edited in the panel (on any instance) and with the
/// rule files until `shutdown`, looking every `every`, starting from `seen` (read before
/// the rules in use were loaded).
pub async fn follow_rules(
    store: Store,
    classifier: Arc<Classifier>,
    source: RuleSource,
    mut seen: RulesSeen,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        match refresh_rules(&store, &classifier, &source, seen).await {
            Ok(now) => seen = now,
            Err(e) => tracing::warn!(error = %e, "reloading the routing rules failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, text: &str) -> KnowledgeEntry {
        KnowledgeEntry {
            id: id.into(),
            department: Some("bygg-miljo".into()),
            subject: String::new(),
            text: text.into(),
            answer: String::new(),
            confirmed: false,
            approved: false,
            boundary: false,
        }
    }

    fn row(e: KnowledgeEntry, origin: &str, retired: bool) -> KnowledgeRow {
        KnowledgeRow {
            entry: e,
            origin: origin.into(),
            created_at: 0,
            review_by: None,
            retired,
            edited_at: None,
            edited_by: None,
        }
    }

    #[test]
    fn mailboxes_are_shared_evenly_rounding_up() {
        assert_eq!(fair_share(6, 1), 6);
        assert_eq!(fair_share(6, 2), 3);
        assert_eq!(fair_share(6, 4), 2);
        assert_eq!(fair_share(1, 3), 1);
        assert_eq!(fair_share(0, 3), 0);
        assert_eq!(fair_share(5, 0), 5);
    }

    #[test]
    fn a_logged_change_becomes_the_right_index_change() {
        let a = entry("a", "bygglov");
        let a2 = entry("a", "bygglov för altan");
        assert_eq!(
            index_change(Some(&a), Some(&row(a.clone(), "panel", false))),
            IndexChange::Nothing
        );
        assert_eq!(
            index_change(Some(&a), Some(&row(a2.clone(), "panel", false))),
            IndexChange::Update(a2.clone())
        );
        assert_eq!(
            index_change(None, Some(&row(a2.clone(), "staff", false))),
            IndexChange::Learn(a2.clone())
        );
        assert_eq!(
            index_change(None, Some(&row(a2.clone(), "panel", false))),
            IndexChange::Update(a2.clone())
        );
        assert_eq!(
            index_change(Some(&a), Some(&row(a.clone(), "staff", true))),
            IndexChange::Retire
        );
        assert_eq!(index_change(Some(&a), None), IndexChange::Retire);
        assert_eq!(index_change(None, None), IndexChange::Nothing);
        assert_eq!(
            index_change(None, Some(&row(a, "staff", true))),
            IndexChange::Nothing
        );
    }
}
