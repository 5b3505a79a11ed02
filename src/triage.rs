//! The pipeline for one mail: take it in, drop duplicates, join it to its case or classify
//! it, and commit the case with its decision and outbox entries in one transaction.
//!
//! source -> ingest -> store (dedupe, thread) -> classify -> decide -> outbox

use crate::domain::working_days::{reply_due, swedish_local, OfficeHours};
use crate::domain::{CaseFlags, CaseId, CaseNumber, CaseStatus, Channel, EmailAddress};
use crate::ingest::{take_in, IncomingMail};
use crate::outbox::{
    compose_acknowledgement, compose_forward, CaseFacts, ComposedMail, Sender, Templates,
};
use crate::routing::{Classification, Classifier, Department, Enquiry, KnowledgeEntry, Learned};
use crate::store::{
    IntakeBatch, NewCase, NewDecision, NewMessage, NewOutboxEntry, StaffDecisionRecord, Store,
    StoreError,
};
use serde::Serialize;
use std::sync::Arc;

/// Errors that stop a mail from being processed now (it stays in its source and is
/// tried again).
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The knowledge index failed.
    #[error(transparent)]
    Knowledge(#[from] crate::routing::KnowledgeError),
    /// The source could not be read.
    #[error("reading mail source: {0}")]
    Source(#[from] std::io::Error),
    /// A worker thread died.
    #[error("classification task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The mailbox lease ran out and another instance reads the mailbox now; nothing of
    /// the batch was recorded.
    #[error("the mailbox lease was lost to another instance")]
    LeaseLost,
    /// No case has this number.
    #[error("no case has the number {0}")]
    UnknownCase(CaseNumber),
    /// No department has this id.
    #[error("no department has the id {0:?}; see routing-rules/")]
    UnknownDepartment(String),
    /// A reply needs text.
    #[error("the reply is empty")]
    EmptyReply,
    /// The case's message has no address to answer.
    #[error("case {0} has no citizen address to reply to")]
    NoCitizenAddress(CaseNumber),
    /// A mail could not be composed.
    #[error("composing the mail: {0}")]
    Compose(String),
    /// A case without a suggested department cannot be confirmed; route it instead.
    #[error("case {0} has no suggested department to confirm; choose one")]
    NothingToConfirm(CaseNumber),
}

/// The source name of questions passed on from the citizen chat: their cases have the
/// channel `chat`.
pub const CHAT_SOURCE: &str = "chat";

/// A person's routing decision on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffDecision {
    /// The suggested (or automatic) department is right.
    Confirm,
    /// The case belongs to another department.
    Reroute {
        /// The department's id.
        department: String,
        /// Why, in the person's words (kept in the decision and the audit log).
        reason: String,
    },
}

/// A past answer made ready as a reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuggestedReply {
    /// The knowledge entry it comes from.
    pub entry_id: String,
    /// That entry's department.
    pub department: Option<String>,
    /// How close that entry is to the case (BM25).
    pub score: f32,
    /// When the entry entered the knowledge base (unix seconds), if known.
    pub date: Option<i64>,
    /// The reply's subject.
    pub subject: String,
    /// The reply, greeting to signature.
    pub body: String,
}

/// What a person's decision did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionReport {
    /// The case.
    pub number: CaseNumber,
    /// Where it now belongs.
    pub department: String,
    /// Whether a forward to the department was queued.
    pub forwarded: bool,
    /// What became of the redacted enquiry in the knowledge base.
    pub learned: Learned,
}

/// What became of one mail.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A new case.
    NewCase {
        /// The case.
        case_id: CaseId,
        /// Its number.
        number: CaseNumber,
        /// The department chosen or suggested.
        department: Option<String>,
        /// Classifier confidence.
        confidence: f64,
        /// Routed without a person.
        auto_routed: bool,
    },
    /// Added to an existing case.
    Joined {
        /// The case.
        case_id: CaseId,
        /// Its number.
        number: CaseNumber,
    },
    /// Already stored (same Message-ID, or same bytes).
    Duplicate,
    /// Could not be read as a mail; kept in quarantine with the reason.
    Quarantined {
        /// Why.
        reason: String,
    },
}

/// Settings of the pipeline.
#[derive(Debug, Clone)]
pub struct TriageSettings {
    /// Who sends for the municipality.
    pub sender: Sender,
    /// Addresses that are ours: never acknowledged.
    pub own_addresses: Vec<EmailAddress>,
    /// The department that handles what needs a person (not forwarded).
    pub fallback_department: String,
    /// Larger messages are quarantined.
    pub max_message_bytes: usize,
    /// At most this many acknowledgements to one address per day (loop protection).
    pub max_automatic_per_sender_per_day: u32,
    /// Whether a department's "Reply" on a forward goes to the citizen (else to Kontaktcenter).
    pub forward_reply_to_citizen: bool,
    /// Campaigns to recognise.
    pub campaigns: crate::campaigns::Campaigns,
    /// When Kontaktcenter is open (for the promise and the out-of-hours notice).
    pub office_hours: OfficeHours,
    /// Answers from approved FAQ entries in the acknowledgement.
    pub automatic_answers: crate::config::AutomaticAnswersConfig,
}

/// Everything needed to triage mail.
#[derive(Clone)]
pub struct Triage {
    store: Store,
    classifier: Arc<Classifier>,
    templates: Arc<Templates>,
    settings: Arc<TriageSettings>,
    /// Woken whenever something was queued in the outbox, so delivery need not poll.
    outbox_ready: Arc<tokio::sync::Notify>,
    /// Mails by outcome and classification times, for `/metrics`.
    metrics: Arc<crate::metrics::TriageMetrics>,
}

impl Triage {
    /// Assembles the pipeline.
    pub fn new(
        store: Store,
        classifier: Arc<Classifier>,
        templates: Arc<Templates>,
        settings: TriageSettings,
    ) -> Self {
        Self {
            store,
            classifier,
            templates,
            settings: Arc::new(settings),
            outbox_ready: Arc::new(tokio::sync::Notify::new()),
            metrics: Arc::default(),
        }
    }

    /// What the pipeline has counted since start.
    pub fn metrics(&self) -> &crate::metrics::TriageMetrics {
        &self.metrics
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Notified whenever mail was queued in the outbox.
    pub fn outbox_ready(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.outbox_ready)
    }

    /// The address citizens write to.
    pub fn kontaktcenter_address(&self) -> &EmailAddress {
        &self.settings.sender.address
    }

    /// The classifier.
    pub fn classifier(&self) -> &Arc<Classifier> {
        &self.classifier
    }

    /// Processes one raw mail from a source (`maildir`, `import`, ...). Idempotent: the
    /// same mail again is a duplicate.
    pub async fn process(&self, raw: Vec<u8>, source: &str) -> Result<Outcome, TriageError> {
        let mut outcomes = self.process_batch(vec![raw], source).await?;
        Ok(outcomes.pop().expect("one outcome per mail"))
    }

    /// Processes the mails of one fetch: parsed and classified in parallel off the runtime,
    /// then recorded in one transaction. Returns one outcome per mail, in order; on an
    /// error nothing of the batch is recorded and every mail stays in its source.
    pub async fn process_batch(
        &self,
        raws: Vec<Vec<u8>>,
        source: &str,
    ) -> Result<Vec<Outcome>, TriageError> {
        self.process_batch_under(raws, source, None).await
    }

    /// Like [`Triage::process_batch`], for mails read under a mailbox lease: the batch is
    /// recorded only while the lease is still this holding's (the fence), so a reader
    /// that lost its mailbox to another instance records nothing.
    pub async fn process_batch_under(
        &self,
        raws: Vec<Vec<u8>>,
        source: &str,
        lease: Option<&crate::store::Lease>,
    ) -> Result<Vec<Outcome>, TriageError> {
        let taken = self.take_in_all(raws).await?;
        let mut batch = self.store.begin_intake().await?;
        let mut outcomes = Vec::with_capacity(taken.len());
        for item in taken {
            outcomes.push(self.record(&mut batch, item, source).await?);
        }
        // The fence is checked last, so the lease row is locked only for the commit (a
        // renewal waits for the lock).
        if let Some(lease) = lease {
            if !batch.hold_lease(lease).await? {
                return Err(TriageError::LeaseLost);
            }
        }
        batch.commit().await?;
        if outcomes
            .iter()
            .any(|o| matches!(o, Outcome::NewCase { .. } | Outcome::Joined { .. }))
        {
            self.outbox_ready.notify_one();
        }
        for outcome in &outcomes {
            log_outcome(outcome);
            self.metrics.mail(match outcome {
                Outcome::NewCase { .. } => crate::metrics::Counted::NewCase,
                Outcome::Joined { .. } => crate::metrics::Counted::Joined,
                Outcome::Duplicate => crate::metrics::Counted::Duplicate,
                Outcome::Quarantined { .. } => crate::metrics::Counted::Quarantined,
            });
        }
        Ok(outcomes)
    }

    /// Parses and classifies mails, on as many blocking threads as there are cores. A mail
    /// that turns out to be a duplicate or a reply was classified for nothing; that is rare.
    async fn take_in_all(&self, raws: Vec<Vec<u8>>) -> Result<Vec<Taken>, TriageError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_task = raws.len().div_ceil(cores).max(1);
        let mut tasks = Vec::with_capacity(cores);
        let mut raws = raws.into_iter();
        loop {
            let part: Vec<Vec<u8>> = raws.by_ref().take(per_task).collect();
            if part.is_empty() {
                break;
            }
            let classifier = Arc::clone(&self.classifier);
            let metrics = Arc::clone(&self.metrics);
            let max = self.settings.max_message_bytes;
            tasks.push(tokio::task::spawn_blocking(move || {
                part.into_iter()
                    .map(|raw| {
                        take_in(raw, max).map(|mail| {
                            let started = std::time::Instant::now();
                            let classification = classifier.classify(Enquiry {
                                text: &mail.classification_text,
                                sender: mail.parsed.from.as_ref(),
                                recipients: &mail.parsed.recipients,
                            });
                            metrics.classified(started.elapsed().as_secs_f64());
                            (mail, classification)
                        })
                    })
                    .collect::<Vec<Taken>>()
            }));
        }
        let mut taken = Vec::new();
        for task in tasks {
            taken.extend(task.await?);
        }
        Ok(taken)
    }

    /// Records one taken-in mail in the batch: quarantined, a duplicate, joined to its
    /// thread, or a new case.
    async fn record(
        &self,
        batch: &mut IntakeBatch,
        taken: Taken,
        source: &str,
    ) -> Result<Outcome, TriageError> {
        let (mail, classification) = match taken {
            Ok(found) => found,
            Err(rejected) => {
                let hash = crate::ingest::content_hash(&rejected.raw);
                let reason = rejected.reason.to_string();
                let new = batch
                    .quarantine(&hash, source, &reason, &rejected.raw)
                    .await?;
                return Ok(if new {
                    Outcome::Quarantined { reason }
                } else {
                    Outcome::Duplicate
                });
            }
        };
        let dedupe_key = mail.dedupe_key();
        if batch.message_exists(&dedupe_key).await? {
            return Ok(Outcome::Duplicate);
        }
        let mut thread_ids = mail.parsed.in_reply_to.clone();
        thread_ids.extend(mail.parsed.references.iter().cloned());
        let number = CaseNumber::find_in(&mail.parsed.subject);
        if let Some(thread) = batch.find_thread(number, &thread_ids).await? {
            return self.join(batch, mail, dedupe_key, source, thread).await;
        }
        self.record_new(batch, mail, dedupe_key, source, classification?)
            .await
    }

    async fn join(
        &self,
        batch: &mut IntakeBatch,
        mail: IncomingMail,
        dedupe_key: String,
        source: &str,
        thread: crate::store::ThreadMatch,
    ) -> Result<Outcome, TriageError> {
        let mut outbox = Vec::new();
        let routed_elsewhere = thread.status == CaseStatus::Routed
            && thread
                .department
                .as_deref()
                .is_some_and(|d| d != self.settings.fallback_department);
        let automatic = mail.automation.auto_reply || mail.automation.bulk;
        let rules = self.classifier.rules();
        if routed_elsewhere && !automatic {
            if let Some(department) = thread
                .department
                .as_deref()
                .and_then(|d| rules.department(d))
            {
                let language = crate::routing::detect_language(&mail.classification_text);
                let facts = CaseFacts {
                    department: Some(department),
                    ..self.facts(&mail, thread.number, language.code())
                };
                match compose_forward(
                    &self.templates,
                    &self.settings.sender,
                    &facts,
                    "followup",
                    self.reply_to(&mail),
                    &mail.raw,
                ) {
                    Ok(m) => outbox.push(outbox_entry(thread.case_id, m)),
                    Err(e) => {
                        tracing::error!(case.id = %thread.case_id, error = %e, "could not compose follow-up forward")
                    }
                }
            }
        }
        let message = self.new_message(&mail, dedupe_key, source);
        if batch
            .record_joined_message(thread.case_id, message, outbox)
            .await?
        {
            Ok(Outcome::Joined {
                case_id: thread.case_id,
                number: thread.number,
            })
        } else {
            Ok(Outcome::Duplicate)
        }
    }

    async fn record_new(
        &self,
        batch: &mut IntakeBatch,
        mail: IncomingMail,
        dedupe_key: String,
        source: &str,
        c: Classification,
    ) -> Result<Outcome, TriageError> {
        let rules = self.classifier.rules();
        // A case that may concern a department under secrecy though another ranks first is
        // given to no department until a person decides: a department's staff see the cases
        // suggested to them, and this one may hold what only the secrecy department may read.
        let department: Option<&Department> = c
            .department()
            .and_then(|d| rules.department(d))
            .filter(|_| c.secrecy_doubt.is_none());
        let looped = self.came_back(&mail);
        let automatic = mail.automation.auto_reply || mail.automation.bulk || looped;
        let auto_routed = c.auto_route && department.is_some() && !automatic;
        let flags = CaseFlags {
            urgent: c.urgent() && !automatic,
            sensitive: department.is_some_and(|d| d.sensitive) || c.secrecy_doubt.is_some(),
            auto_reply: mail.automation.auto_reply || looped,
            bulk: mail.automation.bulk,
        };
        let reason = if looped {
            Some("x-loop: our own mail came back")
        } else {
            mail.automation.reason
        };
        let explanation = match reason {
            Some(reason) if automatic => format!(
                "Automatiskt meddelande ({reason}); skickas inte vidare. {}",
                c.explanation()
            ),
            _ => c.explanation(),
        };
        let now = crate::store::now();
        let local = swedish_local(
            time::OffsetDateTime::from_unix_timestamp(now)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        );
        let hours = &self.settings.office_hours;
        let due = reply_due(local, self.settings.sender.promise_days, hours);
        let campaign = self
            .settings
            .campaigns
            .recognise(&mail.parsed.recipients, &mail.parsed.subject)
            .map(str::to_owned);
        let automatic_answer = self.automatic_answer(&c, flags, automatic, &mail);
        let case = NewCase {
            status: if auto_routed {
                CaseStatus::Routed
            } else {
                CaseStatus::Triage
            },
            department: department.map(|d| d.id.to_string()),
            language: c.language.code().to_owned(),
            channel: if source == CHAT_SOURCE {
                Channel::Chat
            } else {
                Channel::Email
            },
            flags,
            citizen_address: mail.parsed.from.as_ref().map(|a| a.to_string()),
            subject: mail.parsed.subject.clone(),
            confidence: Some(c.confidence),
            created_at: now,
            campaign,
            reply_due: Some(due.to_string()),
        };
        let decision = NewDecision {
            decided_by: c.source,
            department: case.department.clone(),
            confidence: c.confidence,
            auto_routed,
            explanation: explanation.clone(),
            details_json: decision_details(&c),
            actor: None,
        };
        let message = self.new_message(&mail, dedupe_key, source);
        let mut citizen = mail
            .parsed
            .from
            .clone()
            .filter(|a| flags.allows_acknowledgement() && !self.is_own_address(a));
        if let Some(address) = &citizen {
            let day_ago = crate::store::now() - 86_400;
            let sent = batch
                .acknowledgements_since(address.as_str(), day_ago)
                .await?;
            if sent >= i64::from(self.settings.max_automatic_per_sender_per_day) {
                tracing::warn!(
                    limit = self.settings.max_automatic_per_sender_per_day,
                    "daily acknowledgement limit reached for a sender; not acknowledging"
                );
                citizen = None;
            }
        }
        let reply_to = self.reply_to(&mail);
        let forward_to = department
            .filter(|d| auto_routed && d.id.as_str() != self.settings.fallback_department);
        let urgent_reason = flags.urgent.then(|| c.rules.urgent_terms.join(", "));
        let mut problems = Vec::new();
        let recorded = batch
            .record_new_case(case, message, decision, |case_id, number| {
                let facts = CaseFacts {
                    department: forward_to,
                    confidence: c.confidence,
                    auto_routed,
                    explanation: &explanation,
                    urgent_reason: urgent_reason.clone(),
                    reply_by: Some(due),
                    office_closed: !hours.is_open(local),
                    next_opening: Some(hours.next_opening(local)),
                    automatic_answer: automatic_answer.as_ref().map(|e| e.answer.as_str()),
                    ..self.facts(&mail, number, c.language.code())
                };
                let mut entries = Vec::new();
                if let Some(d) = forward_to {
                    let facts = CaseFacts {
                        department: Some(d),
                        ..facts.clone()
                    };
                    match compose_forward(
                        &self.templates,
                        &self.settings.sender,
                        &facts,
                        "forward",
                        reply_to,
                        &mail.raw,
                    ) {
                        Ok(m) => entries.push(outbox_entry(case_id, m)),
                        Err(e) => problems.push(format!("forward: {e}")),
                    }
                }
                if let Some(citizen) = &citizen {
                    match compose_acknowledgement(
                        &self.templates,
                        &self.settings.sender,
                        &facts,
                        citizen,
                        mail.parsed.message_id.as_deref(),
                    ) {
                        Ok(m) => entries.push(outbox_entry(case_id, m)),
                        Err(e) => problems.push(format!("acknowledgement: {e}")),
                    }
                }
                entries
            })
            .await?;
        let Some((case_id, number)) = recorded else {
            return Ok(Outcome::Duplicate);
        };
        for problem in problems {
            tracing::error!(case.id = %case_id, error = %problem, "could not compose outgoing mail");
            batch
                .audit("brevduva", "compose-failed", Some(case_id), &problem)
                .await?;
        }
        Ok(Outcome::NewCase {
            case_id,
            number,
            department: department.map(|d| d.id.to_string()),
            confidence: c.confidence,
            auto_routed,
        })
    }

    /// A case by its number, or the error that names it.
    async fn case_by_number(
        &self,
        number: CaseNumber,
    ) -> Result<crate::store::CaseForDecision, TriageError> {
        self.store
            .case_for_decision(number)
            .await?
            .ok_or(TriageError::UnknownCase(number))
    }

    /// A stored message read again (off the runtime); `None` if it cannot be read.
    async fn read_again(&self, raw: Vec<u8>) -> Result<Option<IncomingMail>, TriageError> {
        let max = self.settings.max_message_bytes;
        Ok(tokio::task::spawn_blocking(move || take_in(raw, max).ok()).await?)
    }

    /// Records a person's decision on a case: the case moves to its department (with a
    /// forward when it moves to a department that gets mail), and the redacted enquiry
    /// teaches the classifier at once, unless it is sensitive or automatic mail.
    pub async fn decide(
        &self,
        number: CaseNumber,
        decision: StaffDecision,
        actor: &str,
    ) -> Result<DecisionReport, TriageError> {
        let case = self.case_by_number(number).await?;
        let (department_id, reason) = match &decision {
            StaffDecision::Confirm => (
                case.department
                    .clone()
                    .ok_or(TriageError::NothingToConfirm(number))?,
                None,
            ),
            StaffDecision::Reroute { department, reason } => {
                (department.clone(), Some(reason.trim().to_owned()))
            }
        };
        let rules = self.classifier.rules();
        let department = rules
            .department(&department_id)
            .ok_or_else(|| TriageError::UnknownDepartment(department_id.clone()))?;
        let mail = self.read_again(case.raw.clone()).await?;

        let moved = case.status == CaseStatus::Triage
            || case.department.as_deref() != Some(department.id.as_str());
        let explanation = match &reason {
            Some(reason) if !reason.is_empty() => {
                format!("Omdirigerat till {} av {actor}: {reason}", department.id)
            }
            Some(_) => format!("Omdirigerat till {} av {actor}", department.id),
            None => format!("Bekräftat av {actor}"),
        };
        let forward = match &mail {
            Some(mail) if moved && department.id.as_str() != self.settings.fallback_department => {
                let language = crate::routing::detect_language(&mail.classification_text);
                // One Message-ID per decision, so a retried decision cannot forward twice
                // and a later decision still can.
                let key = format!(
                    "{}:decision-{}",
                    mail.parsed.content_hash,
                    case.decisions + 1
                );
                let facts = CaseFacts {
                    department: Some(department),
                    confidence: 1.0,
                    explanation: &explanation,
                    message_key: &key,
                    ..self.facts(mail, number, language.code())
                };
                let composed = compose_forward(
                    &self.templates,
                    &self.settings.sender,
                    &facts,
                    "forward",
                    self.reply_to(mail),
                    &mail.raw,
                )
                .map_err(|e| {
                    tracing::error!(case.id = %case.id, error = %e, "could not compose forward");
                })
                .ok();
                composed.map(|m| outbox_entry(case.id, m))
            }
            _ => None,
        };
        let shareable = !department.sensitive
            && !case.flags.sensitive
            && !case.flags.auto_reply
            && !case.flags.bulk;
        let knowledge = match &mail {
            Some(mail) if shareable => Some(knowledge_entry(number, department.id.as_str(), mail)),
            _ => None,
        };
        let forwarded = forward.is_some();
        self.store
            .record_staff_decision(StaffDecisionRecord {
                case_id: case.id,
                department: department.id.to_string(),
                decision: NewDecision {
                    decided_by: crate::domain::DecisionSource::Person,
                    department: Some(department.id.to_string()),
                    confidence: 1.0,
                    auto_routed: false,
                    explanation: explanation.clone(),
                    details_json:
                        serde_json::json!({ "previous": case.department, "reason": reason })
                            .to_string(),
                    actor: Some(actor.to_owned()),
                },
                forward,
                knowledge: knowledge.clone(),
                audit_action: match decision {
                    StaffDecision::Confirm => "confirm",
                    StaffDecision::Reroute { .. } => "reroute",
                },
                audit_detail: format!(
                    "{} -> {}",
                    case.department.as_deref().unwrap_or("-"),
                    department.id
                ),
            })
            .await?;
        let learned = match knowledge {
            Some(entry) => {
                let classifier = Arc::clone(&self.classifier);
                tokio::task::spawn_blocking(move || classifier.learn(entry)).await??
            }
            None => Learned::NotShared,
        };
        self.outbox_ready.notify_one();
        tracing::info!(case.id = %case.id, department = %department.id, forwarded, learned = ?learned, "staff decision recorded");
        Ok(DecisionReport {
            number,
            department: department.id.to_string(),
            forwarded,
            learned,
        })
    }

    /// Queues a person's reply to the citizen of a case: threaded to the citizen's latest
    /// message, the case number in the subject, the original quoted; signed with
    /// `signature`, recorded in the audit log under `actor` (the log-in name). Returns the outbox
    /// Message-ID, or `None` when this very reply was queued already.
    pub async fn send_reply(
        &self,
        number: CaseNumber,
        answer: &str,
        signature: &str,
        actor: &str,
    ) -> Result<Option<String>, TriageError> {
        if answer.trim().is_empty() {
            return Err(TriageError::EmptyReply);
        }
        let case = self.case_by_number(number).await?;
        let mail = self
            .read_again(case.latest_raw.clone())
            .await?
            .ok_or(TriageError::NoCitizenAddress(number))?;
        let citizen = mail
            .parsed
            .reply_to
            .clone()
            .or_else(|| mail.parsed.from.clone())
            .filter(|a| !self.is_own_address(a))
            .ok_or(TriageError::NoCitizenAddress(number))?;
        let rules = self.classifier.rules();
        let department = case.department.as_deref().and_then(|d| rules.department(d));
        let facts = CaseFacts {
            department,
            ..self.facts(&mail, number, &case.language)
        };
        let original = crate::outbox::Original {
            message_id: mail.parsed.message_id.as_deref(),
            references: &mail.parsed.references,
            from: &citizen,
            sent_at: mail.parsed.date,
            text: &mail.parsed.text,
        };
        let composed = crate::outbox::compose_reply(
            &self.templates,
            &self.settings.sender,
            &facts,
            answer,
            signature,
            &original,
        )
        .map_err(|e| TriageError::Compose(e.to_string()))?;
        let message_id = composed.message_id.clone();
        let queued = self
            .store
            .queue_reply(&outbox_entry(case.id, composed), actor)
            .await?;
        self.outbox_ready.notify_one();
        tracing::info!(case.id = %case.id, queued, "reply queued");
        Ok(queued.then_some(message_id))
    }

    /// The three best past answers for a case, each rendered as a ready reply through the
    /// reply template in the case's language, with the past entry's department, score and
    /// date.
    pub async fn suggest_replies(
        &self,
        number: CaseNumber,
        signature: &str,
    ) -> Result<Vec<SuggestedReply>, TriageError> {
        let case = self.case_by_number(number).await?;
        let Some(mail) = self.read_again(case.raw.clone()).await? else {
            return Ok(Vec::new());
        };
        let classifier = Arc::clone(&self.classifier);
        let text = mail.classification_text.clone();
        let neighbours =
            tokio::task::spawn_blocking(move || classifier.nearest_answers(&text, 3)).await??;
        let ids: Vec<&str> = neighbours.iter().map(|n| n.entry.id.as_str()).collect();
        let dates = self.store.knowledge_dates(&ids).await?;
        let rules = self.classifier.rules();
        let department = case.department.as_deref().and_then(|d| rules.department(d));
        let facts = CaseFacts {
            department,
            ..self.facts(&mail, number, &case.language)
        };
        let mut out = Vec::new();
        for n in &neighbours {
            let rendered = crate::outbox::render_reply(
                &self.templates,
                &self.settings.sender,
                &facts,
                &n.entry.answer,
                signature,
            )
            .map_err(|e| TriageError::Compose(e.to_string()))?;
            out.push(SuggestedReply {
                entry_id: n.entry.id.clone(),
                department: n.entry.department.clone(),
                score: n.score,
                date: dates.get(&n.entry.id).copied(),
                subject: rendered.subject,
                body: rendered.body,
            });
        }
        Ok(out)
    }

    /// A knowledge entry drafted from a case and a reply sent on it: the enquiry as
    /// question, the reply (without the quoted original) as answer, both redacted, with
    /// the personal data that redaction removed so a person can check it. Its id is the
    /// case number, so it replaces what a routing decision on the case taught.
    pub async fn knowledge_draft(
        &self,
        number: CaseNumber,
        reply: crate::domain::OutboxId,
        staff_names: &[&str],
    ) -> Result<KnowledgeDraft, TriageError> {
        let case = self.case_by_number(number).await?;
        let sent = self
            .store
            .outbox_for_case(case.id)
            .await?
            .into_iter()
            .find(|o| o.id == reply && o.kind == crate::domain::OutboxKind::Reply)
            .ok_or(TriageError::UnknownCase(number))?;
        let mail = self
            .read_again(case.raw.clone())
            .await?
            .ok_or(TriageError::UnknownCase(number))?;
        let reply_text = crate::ingest::readable_text_of(&sent.raw).unwrap_or_default();
        let mut names: Vec<String> = mail.parsed.from_name.iter().cloned().collect();
        names.extend(staff_names.iter().map(|n| (*n).to_owned()));
        let question = crate::ingest::text_for_classification(&mail.parsed.text);
        let answer = without_quote(&reply_text);
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut findings = Vec::new();
        for text in [&mail.parsed.subject, &question, &answer] {
            for f in crate::privacy::find_personal_data(text, &name_refs) {
                findings.push(RemovedData {
                    kind: f.kind.placeholder().trim_matches(['[', ']']).to_owned(),
                    text: text[f.range.clone()].to_owned(),
                    placeholder: f.kind.placeholder().to_owned(),
                });
            }
        }
        let department = case.department.clone();
        Ok(KnowledgeDraft {
            entry: KnowledgeEntry {
                id: number.to_string(),
                department,
                subject: crate::privacy::redact(&mail.parsed.subject, &name_refs),
                text: crate::privacy::redact(&question, &name_refs),
                answer: crate::privacy::redact(&answer, &name_refs),
                confirmed: true,
                approved: false,
                boundary: false,
            },
            removed: findings,
            names,
        })
    }

    /// An approved FAQ answer to put in the acknowledgement, when automatic answers are on
    /// and the case is neither sensitive, urgent nor automatic mail.
    fn automatic_answer(
        &self,
        c: &Classification,
        flags: CaseFlags,
        automatic: bool,
        mail: &IncomingMail,
    ) -> Option<std::sync::Arc<KnowledgeEntry>> {
        let settings = &self.settings.automatic_answers;
        if !settings.enabled
            || flags.sensitive
            || flags.urgent
            || automatic
            || c.confidence < settings.min_confidence
        {
            return None;
        }
        self.classifier
            .approved_answer(c, &mail.classification_text, settings.min_similarity)
    }

    /// The facts every template may show, with the routing fields left empty.
    fn facts<'a>(
        &self,
        mail: &'a IncomingMail,
        number: CaseNumber,
        language: &'a str,
    ) -> CaseFacts<'a> {
        CaseFacts {
            number,
            subject: &mail.parsed.subject,
            department: None,
            confidence: 0.0,
            auto_routed: false,
            explanation: "",
            language,
            urgent_reason: None,
            reply_by: None,
            office_closed: false,
            next_opening: None,
            automatic_answer: None,
            attachments: mail
                .parsed
                .attachments
                .iter()
                .filter_map(|a| a.filename.clone())
                .collect(),
            message_key: &mail.parsed.content_hash,
        }
    }

    /// Reply-To of a forward: the citizen, unless configured to be Kontaktcenter.
    fn reply_to<'a>(&self, mail: &'a IncomingMail) -> Option<&'a EmailAddress> {
        mail.parsed
            .from
            .as_ref()
            .filter(|_| self.settings.forward_reply_to_citizen)
    }

    /// Whether a mail carries our own `X-Loop` mark: something sent our mail back.
    fn came_back(&self, mail: &IncomingMail) -> bool {
        let ours = self.settings.sender.address.without_plus_tag();
        mail.parsed.automation.x_loop.iter().any(|v| {
            EmailAddress::parse(v).is_ok_and(|a| {
                a.without_plus_tag() == ours
                    || self
                        .settings
                        .own_addresses
                        .iter()
                        .any(|o| o.without_plus_tag() == a.without_plus_tag())
            })
        })
    }

    fn is_own_address(&self, address: &EmailAddress) -> bool {
        let base = address.without_plus_tag();
        base == self.settings.sender.address.without_plus_tag()
            || self
                .settings
                .own_addresses
                .iter()
                .any(|a| a.without_plus_tag() == base)
    }

    fn new_message(&self, mail: &IncomingMail, dedupe_key: String, source: &str) -> NewMessage {
        let p = &mail.parsed;
        NewMessage {
            dedupe_key,
            message_id: p.message_id.clone(),
            content_hash: p.content_hash.clone(),
            source: source.to_owned(),
            from_address: p.from.as_ref().map(|a| a.to_string()),
            subject: p.subject.clone(),
            sent_at: p.date,
            received_at: crate::store::now(),
            body_text: p.text.clone(),
            classification_text: mail.classification_text.clone(),
            attachments_json: serde_json::to_string(&p.attachments).unwrap_or_else(|_| "[]".into()),
            in_reply_to_json: serde_json::to_string(&p.in_reply_to).unwrap_or_else(|_| "[]".into()),
            references_json: serde_json::to_string(&p.references).unwrap_or_else(|_| "[]".into()),
            automation_reason: mail.automation.reason.map(str::to_owned),
            raw: mail.raw.clone(),
        }
    }
}

/// A decided case as a knowledge entry: subject and the citizen's own words with personal
/// data replaced by placeholders (the sender's name included), and no answer yet.
fn knowledge_entry(number: CaseNumber, department: &str, mail: &IncomingMail) -> KnowledgeEntry {
    let names: Vec<&str> = mail.parsed.from_name.as_deref().into_iter().collect();
    KnowledgeEntry {
        id: number.to_string(),
        department: Some(department.to_owned()),
        subject: crate::privacy::redact(&mail.parsed.subject, &names),
        text: crate::privacy::redact(
            &crate::ingest::text_for_classification(&mail.parsed.text),
            &names,
        ),
        answer: String::new(),
        confirmed: true,
        approved: false,
        boundary: false,
    }
}

/// A knowledge entry drafted from a case, before a person saves it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnowledgeDraft {
    /// The redacted entry.
    pub entry: KnowledgeEntry,
    /// What redaction removed.
    pub removed: Vec<RemovedData>,
    /// The names known to belong to people in the case (redacted again on save).
    #[serde(skip)]
    pub names: Vec<String>,
}

/// One item of personal data that redaction removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedData {
    /// The kind, as its placeholder says (`personnummer`).
    pub kind: String,
    /// The text found.
    pub text: String,
    /// What replaces it.
    pub placeholder: String,
}

/// A reply's text without the quoted original (lines starting with `>` and the line that
/// introduces them).
fn without_quote(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.trim_start().starts_with('>'))
        .unwrap_or(lines.len());
    // The attribution ("Den 27 nov skrev Anna:") sits just above the quote.
    let mut end = end;
    while end > 0 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    if end > 0 && end < lines.len() {
        let line = lines[end - 1].trim_end();
        if line.ends_with(':') {
            end -= 1;
        }
    }
    lines[..end].join("\n").trim().to_owned()
}

/// A mail taken in and classified, or the reason it could not be read.
type Taken = Result<
    (
        IncomingMail,
        Result<Classification, crate::routing::KnowledgeError>,
    ),
    crate::ingest::Rejected,
>;

/// Logs what became of a mail once it is committed; no personal data.
fn log_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::NewCase {
            case_id,
            department,
            confidence,
            auto_routed,
            ..
        } => {
            tracing::info!(case.id = %case_id, department = ?department, confidence, auto_routed, "case created")
        }
        Outcome::Joined { case_id, .. } => {
            tracing::info!(case.id = %case_id, "message joined existing case")
        }
        Outcome::Duplicate => tracing::debug!("duplicate message skipped"),
        Outcome::Quarantined { reason } => tracing::info!(reason = %reason, "message quarantined"),
    }
}

fn outbox_entry(case_id: CaseId, m: ComposedMail) -> NewOutboxEntry {
    NewOutboxEntry {
        case_id,
        kind: m.kind,
        message_id: m.message_id,
        recipient: m.recipient.to_string(),
        raw: m.raw,
        created_at: crate::store::now(),
    }
}

/// The machine-readable part of a routing decision.
fn decision_details(c: &Classification) -> String {
    let details = serde_json::json!({
        "ranking": c.ranking.iter().take(5).map(|(d, s)| serde_json::json!({"department": d, "score": s})).collect::<Vec<_>>(),
        "rules": c.rules.matches.iter().map(|m| serde_json::json!({
            "department": m.department, "score": m.score, "keywords": m.keywords, "patterns": m.patterns,
        })).collect::<Vec<_>>(),
        "neighbours": c.neighbours.iter().take(3).map(|n| serde_json::json!({
            "id": n.entry.id, "department": n.entry.department, "score": n.score,
        })).collect::<Vec<_>>(),
        "urgent_terms": c.rules.urgent_terms,
        "telling_words": c.telling_words,
        "confidence": c.confidence,
        "raw_score": c.raw_score,
        "language": c.language.code(),
    });
    details.to_string()
}
