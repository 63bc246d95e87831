//! The incident register and breach notices.
//!
//! Every incident is recorded, also those that never turn out to be a breach, with its states
//! (investigating → confirmed → notified → resolved), a timeline of events and whether the
//! affected data was encrypted with keys that were not exposed. Confirmation starts the
//! 72-hour clock for the notice; a notice sent after it must say why it is late.
//!
//! The accounts an incident affects are chosen as all accounts, a list, or from the audit log
//! (activity in a time window, actions, an object or key), and kept as one row per account in
//! [`INCIDENT_ACCOUNTS`]: those rows are the account's own (purged with it, carried in its
//! export), while the register itself keeps only the rule and the count. The notice's five
//! parts are all required; sending it queues one outbox mail per affected account (template
//! [`NOTICE_TEMPLATE`], topic `incident/<id>`) in the audited transaction that records the
//! sending, and the same text is the banner the web app shows each account until it is
//! dismissed.

use std::collections::{BTreeMap, BTreeSet};

use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};
use studiovault_api::admin::{
    AffectedRule, AffectedSelection, ConfirmIncident, IncidentState, NewIncident, NoticeParts,
};

use crate::audit::{Actor, AuditAction, AuditEvent, each_entry};
use crate::error::{Result, VaultError};
use crate::ids::{IncidentId, MessageId, UserId};
use crate::outbox::{MailDraft, queue_mail};
use crate::records::{UserRecord, get_user};
use crate::store::{AUDIT, INCIDENT_ACCOUNTS, INCIDENTS, USERS, USERS_BY_EMAIL, decode, encode};
use crate::users::Account;
use crate::{ClientInfo, Vault};

/// A breach notice is due within this long of the incident's confirmation.
pub const NOTICE_DEADLINE_MS: i64 = 72 * 3_600_000;
/// The mail template of a breach notice (`appliance/mail/templates/breach-notice.{txt,html}`).
pub const NOTICE_TEMPLATE: &str = "breach-notice";
const MAX_TITLE_CHARS: usize = 120;
/// A description, a note, a late reason or one part of a notice.
const MAX_TEXT_CHARS: usize = 4_000;
/// Accounts a list may name.
const MAX_LISTED: usize = 10_000;

/// What happened to an incident, as its timeline shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Recorded,
    Confirmed,
    Affected,
    Notified,
    Resolved,
    Note,
}

impl TimelineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Confirmed => "confirmed",
            Self::Affected => "affected",
            Self::Notified => "notified",
            Self::Resolved => "resolved",
            Self::Note => "note",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub at_ms: i64,
    pub kind: TimelineKind,
    pub text: String,
}

/// An incident as the register keeps it. It names no account: the affected accounts are rows
/// of their own ([`AffectedRow`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub id: IncidentId,
    pub title: String,
    pub description: String,
    pub state: IncidentState,
    pub created_at_ms: i64,
    pub confirmed_at_ms: Option<i64>,
    pub notified_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    /// Whether the affected data was encrypted with keys that were not exposed; `None` while
    /// unknown.
    pub encrypted: Option<bool>,
    /// How the affected accounts were chosen.
    pub selection: Option<AffectedRule>,
    /// How many accounts were chosen as affected.
    pub affected: u64,
    /// The notice as sent.
    pub notice: Option<NoticeParts>,
    /// Why the notice went out more than 72 hours after confirmation.
    pub late_reason: Option<String>,
    pub timeline: Vec<TimelineEvent>,
}

impl IncidentRecord {
    /// When the notice is due: 72 hours after confirmation.
    pub fn notify_by_ms(&self) -> Option<i64> {
        self.confirmed_at_ms.map(|t| t + NOTICE_DEADLINE_MS)
    }

    /// Whether a notice sent at `now` would be late.
    pub fn late_at(&self, now: i64) -> bool {
        self.notify_by_ms().is_some_and(|due| now > due)
    }

    /// The topic of the notice's mails in the outbox.
    pub fn topic(&self) -> String {
        topic_of(self.id)
    }

    fn note(&mut self, at_ms: i64, kind: TimelineKind, text: impl Into<String>) {
        self.timeline.push(TimelineEvent {
            at_ms,
            kind,
            text: text.into(),
        });
    }
}

/// The outbox topic of an incident's notice mails.
pub fn topic_of(id: IncidentId) -> String {
    format!("incident/{id}")
}

/// One account an incident affects: whether and when it was notified, the mail, and whether
/// its owner dismissed the banner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedRow {
    pub owner: UserId,
    pub incident: IncidentId,
    pub chosen_at_ms: i64,
    pub notified_at_ms: Option<i64>,
    /// The outbox message of the notice.
    pub message: Option<MessageId>,
    pub dismissed_at_ms: Option<i64>,
}

/// A notice the owner was sent, with its text: the banner and the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerNotice {
    pub incident: IncidentId,
    pub sent_at_ms: i64,
    pub dismissed_at_ms: Option<i64>,
    pub notice: NoticeParts,
}

/// Text an admin typed: control characters dropped except line breaks, trimmed, at most `max`
/// characters.
fn clean_paragraphs(raw: &str, max: usize) -> String {
    raw.replace("\r\n", "\n")
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(max)
        .collect()
}

fn required(field: &'static str, raw: &str, max: usize) -> Result<String> {
    let text = clean_paragraphs(raw, max);
    if text.is_empty() {
        return Err(VaultError::invalid(field, "must not be empty"));
    }
    Ok(text)
}

/// The five parts, each cleaned and none empty.
pub fn checked_notice(parts: &NoticeParts) -> Result<NoticeParts> {
    Ok(NoticeParts {
        what_happened: required("what_happened", &parts.what_happened, MAX_TEXT_CHARS)?,
        data_affected: required("data_affected", &parts.data_affected, MAX_TEXT_CHARS)?,
        containment: required("containment", &parts.containment, MAX_TEXT_CHARS)?,
        user_action: required("user_action", &parts.user_action, MAX_TEXT_CHARS)?,
        contact: required("contact", &parts.contact, MAX_TEXT_CHARS)?,
    })
}

/// The values the notice's template is filled with: the same for every recipient, so the
/// preview is the mail each one gets. The mail runner adds `origin`, the appliance's address.
pub fn notice_values(incident: IncidentId, parts: &NoticeParts) -> Vec<(String, String)> {
    [
        ("reference", incident.to_string()),
        ("what_happened", parts.what_happened.clone()),
        ("data_affected", parts.data_affected.clone()),
        ("containment", parts.containment.clone()),
        ("user_action", parts.user_action.clone()),
        ("contact", parts.contact.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn incident_event(id: IncidentId, action: AuditAction) -> AuditEvent {
    AuditEvent::new(Actor::Admin, None, action).object(format!("incident/{id}"))
}

fn get_incident(
    table: &impl ReadableTable<u128, &'static [u8]>,
    id: IncidentId,
) -> Result<IncidentRecord> {
    let raw = table.get(id.raw())?.ok_or(VaultError::NotFound)?;
    decode("incidents", raw.value())
}

/// Reads an incident, lets `edit` check and change it, and writes it back, inside `txn`.
fn edit_incident<T>(
    txn: &WriteTransaction,
    id: IncidentId,
    edit: impl FnOnce(&mut IncidentRecord) -> Result<T>,
) -> Result<(IncidentRecord, T)> {
    let mut table = txn.open_table(INCIDENTS)?;
    let mut rec = get_incident(&table, id)?;
    let out = edit(&mut rec)?;
    table.insert(id.raw(), encode(&rec).as_slice())?;
    Ok((rec, out))
}

fn rows_of(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    incident: IncidentId,
) -> Result<Vec<AffectedRow>> {
    let mut out = Vec::new();
    for row in table.iter()? {
        let (key, value) = row?;
        if key.value().1 == incident.raw() {
            out.push(decode("incident_accounts", value.value())?);
        }
    }
    Ok(out)
}

fn put_row(table: &mut Table<(u128, u128), &'static [u8]>, row: &AffectedRow) -> Result<()> {
    table.insert(
        (row.owner.raw(), row.incident.raw()),
        encode(row).as_slice(),
    )?;
    Ok(())
}

/// Whether an audit record's `action` is `filter` or under it (`track` matches `track.upload`).
fn action_matches(action: &str, filter: &str) -> bool {
    action == filter
        || action
            .strip_prefix(filter)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The accounts `selection` names, by e-mail; answers the rule the register keeps.
fn resolve(
    users: &impl ReadableTable<u128, &'static [u8]>,
    by_email: &impl ReadableTable<&'static str, u128>,
    audit: &impl ReadableTable<u64, &'static [u8]>,
    selection: &AffectedSelection,
) -> Result<(Vec<UserRecord>, AffectedRule)> {
    let mut found: BTreeMap<UserId, UserRecord> = BTreeMap::new();
    let rule = match selection {
        AffectedSelection::All => {
            for row in users.iter()? {
                let user: UserRecord = decode("users", row?.1.value())?;
                found.insert(user.id, user);
            }
            AffectedRule::All
        }
        AffectedSelection::Accounts { accounts } => {
            if accounts.is_empty() {
                return Err(VaultError::invalid(
                    "accounts",
                    "must name at least one account",
                ));
            }
            if accounts.len() > MAX_LISTED {
                return Err(VaultError::invalid(
                    "accounts",
                    format!("may name at most {MAX_LISTED} accounts"),
                ));
            }
            for who in accounts {
                let who = who.trim();
                let id = match UserId::parse(who) {
                    Some(id) => Some(id),
                    None => by_email
                        .get(who.to_ascii_lowercase().as_str())?
                        .map(|v| UserId::from_raw(v.value())),
                };
                let user = match id {
                    Some(id) => get_user(users, id)?,
                    None => None,
                };
                let Some(user) = user else {
                    return Err(VaultError::invalid(
                        "accounts",
                        format!("name `{who}`, which is no account's id or e-mail address"),
                    ));
                };
                found.insert(user.id, user);
            }
            AffectedRule::Accounts {
                count: found.len() as u64,
            }
        }
        AffectedSelection::AuditLog {
            since_ms,
            until_ms,
            actions,
            object,
        } => {
            let actions: Vec<String> = actions
                .iter()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect();
            let object = object
                .as_deref()
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned);
            if since_ms.is_none() && until_ms.is_none() && actions.is_empty() && object.is_none() {
                return Err(VaultError::invalid(
                    "selection",
                    "from the audit log needs a time window, actions or an object",
                ));
            }
            if let (Some(since), Some(until)) = (since_ms, until_ms)
                && since > until
            {
                return Err(VaultError::invalid("since", "must not be after until"));
            }
            let mut ids = BTreeSet::new();
            each_entry(audit, |entry| {
                let hit = since_ms.is_none_or(|s| entry.at_ms >= s)
                    && until_ms.is_none_or(|u| entry.at_ms <= u)
                    && (actions.is_empty()
                        || actions.iter().any(|a| action_matches(&entry.action, a)))
                    && object
                        .as_deref()
                        .is_none_or(|o| entry.object.as_deref().is_some_and(|x| x.starts_with(o)));
                if hit {
                    let actor = entry.actor.strip_prefix("user:").and_then(UserId::parse);
                    let owner = entry.owner.as_deref().and_then(UserId::parse);
                    ids.extend(actor.into_iter().chain(owner));
                }
            })?;
            // Accounts since purged are no one's to notify.
            for id in ids {
                if let Some(user) = get_user(users, id)? {
                    found.insert(id, user);
                }
            }
            AffectedRule::AuditLog {
                since_ms: *since_ms,
                until_ms: *until_ms,
                actions,
                object,
            }
        }
    };
    let mut accounts: Vec<UserRecord> = found.into_values().collect();
    accounts.sort_by(|a, b| a.email.cmp(&b.email));
    Ok((accounts, rule))
}

/// Removes `owner`'s rows: the register's part of an account purge. The incident keeps its
/// count of affected accounts.
pub(crate) fn purge_owner(_: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    let mut table = txn.open_table(INCIDENT_ACCOUNTS)?;
    let keys: Vec<(u128, u128)> = table
        .range((owner.raw(), 0)..=(owner.raw(), u128::MAX))?
        .map(|r| r.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    for key in keys {
        table.remove(key)?;
    }
    Ok(())
}

impl Vault {
    /// Records an incident, investigating.
    pub fn record_incident(&self, new: &NewIncident) -> Result<IncidentRecord> {
        let title = required("title", &new.title, MAX_TITLE_CHARS)?;
        let description = clean_paragraphs(&new.description, MAX_TEXT_CHARS);
        let id = IncidentId::random();
        self.audited(None, |txn, now| {
            let mut rec = IncidentRecord {
                id,
                title: title.clone(),
                description,
                state: IncidentState::Investigating,
                created_at_ms: now,
                confirmed_at_ms: None,
                notified_at_ms: None,
                resolved_at_ms: None,
                encrypted: new.encrypted,
                selection: None,
                affected: 0,
                notice: None,
                late_reason: None,
                timeline: Vec::new(),
            };
            rec.note(now, TimelineKind::Recorded, title.clone());
            txn.open_table(INCIDENTS)?
                .insert(id.raw(), encode(&rec).as_slice())?;
            Ok((
                rec,
                incident_event(id, AuditAction::IncidentCreate).detail(title),
            ))
        })
    }

    /// Every incident, newest first.
    pub fn incidents(&self) -> Result<Vec<IncidentRecord>> {
        let txn = self.db().begin_read()?;
        let mut out: Vec<IncidentRecord> = txn
            .open_table(INCIDENTS)?
            .iter()?
            .map(|row| decode("incidents", row?.1.value()))
            .collect::<Result<_>>()?;
        out.sort_by_key(|i| std::cmp::Reverse((i.created_at_ms, i.id)));
        Ok(out)
    }

    pub fn incident(&self, id: IncidentId) -> Result<IncidentRecord> {
        get_incident(&self.db().begin_read()?.open_table(INCIDENTS)?, id)
    }

    /// The incident is a breach: the 72-hour clock for the notice starts now.
    pub fn confirm_incident(
        &self,
        id: IncidentId,
        confirm: &ConfirmIncident,
    ) -> Result<IncidentRecord> {
        let note = confirm
            .note
            .as_deref()
            .map(|n| clean_paragraphs(n, MAX_TEXT_CHARS))
            .filter(|n| !n.is_empty());
        self.audited(None, |txn, now| {
            let (rec, ()) = edit_incident(txn, id, |rec| {
                match rec.state {
                    IncidentState::Investigating => {}
                    IncidentState::Resolved => {
                        return Err(VaultError::Conflict("the incident is resolved"));
                    }
                    _ => return Err(VaultError::Conflict("the incident is already confirmed")),
                }
                rec.state = IncidentState::Confirmed;
                rec.confirmed_at_ms = Some(now);
                if confirm.encrypted.is_some() {
                    rec.encrypted = confirm.encrypted;
                }
                let mut text =
                    "confirmed as a breach; the notice is due within 72 hours".to_owned();
                match rec.encrypted {
                    Some(true) => {
                        text.push_str("; the data was encrypted with keys that were not exposed")
                    }
                    Some(false) => {
                        text.push_str("; the data was not protected by keys that stayed safe")
                    }
                    None => {}
                }
                if let Some(note) = &note {
                    text.push_str(": ");
                    text.push_str(note);
                }
                rec.note(now, TimelineKind::Confirmed, text);
                Ok(())
            })?;
            let detail = match rec.encrypted {
                Some(true) => "encrypted, keys not exposed",
                Some(false) => "not protected by unexposed keys",
                None => "encryption unknown",
            };
            Ok((
                rec,
                incident_event(id, AuditAction::IncidentConfirm).detail(detail),
            ))
        })
    }

    /// The accounts `selection` names, for a preview: nothing is recorded.
    pub fn preview_affected(&self, selection: &AffectedSelection) -> Result<Vec<UserRecord>> {
        let txn = self.db().begin_read()?;
        let (accounts, _) = resolve(
            &txn.open_table(USERS)?,
            &txn.open_table(USERS_BY_EMAIL)?,
            &txn.open_table(AUDIT)?,
            selection,
        )?;
        Ok(accounts)
    }

    /// Records the accounts `selection` names as those the incident affects, in place of any
    /// chosen before; until the notice is sent. Answers them.
    pub fn choose_affected(
        &self,
        id: IncidentId,
        selection: &AffectedSelection,
    ) -> Result<Vec<UserRecord>> {
        self.audited(None, |txn, now| {
            let (accounts, rule) = resolve(
                &txn.open_table(USERS)?,
                &txn.open_table(USERS_BY_EMAIL)?,
                &txn.open_table(AUDIT)?,
                selection,
            )?;
            if accounts.is_empty() {
                return Err(VaultError::invalid(
                    "selection",
                    "matches no account: nothing would be notified",
                ));
            }
            let count = accounts.len() as u64;
            edit_incident(txn, id, |rec| {
                match rec.state {
                    IncidentState::Investigating | IncidentState::Confirmed => {}
                    IncidentState::Notified => {
                        return Err(VaultError::Conflict("the notice was already sent"));
                    }
                    IncidentState::Resolved => {
                        return Err(VaultError::Conflict("the incident is resolved"));
                    }
                }
                rec.selection = Some(rule.clone());
                rec.affected = count;
                rec.note(
                    now,
                    TimelineKind::Affected,
                    format!("{count} account(s) chosen as affected"),
                );
                Ok(())
            })?;
            let mut table = txn.open_table(INCIDENT_ACCOUNTS)?;
            for old in rows_of(&table, id)? {
                table.remove((old.owner.raw(), id.raw()))?;
            }
            for user in &accounts {
                put_row(
                    &mut table,
                    &AffectedRow {
                        owner: user.id,
                        incident: id,
                        chosen_at_ms: now,
                        notified_at_ms: None,
                        message: None,
                        dismissed_at_ms: None,
                    },
                )?;
            }
            let event = incident_event(id, AuditAction::IncidentAffected)
                .detail(format!("{count} account(s)"));
            Ok((accounts, event))
        })
    }

    /// The accounts chosen as affected, each with its row, by e-mail.
    pub fn affected_accounts(&self, id: IncidentId) -> Result<Vec<(AffectedRow, UserRecord)>> {
        let txn = self.db().begin_read()?;
        get_incident(&txn.open_table(INCIDENTS)?, id)?;
        let users = txn.open_table(USERS)?;
        let mut out = Vec::new();
        for row in rows_of(&txn.open_table(INCIDENT_ACCOUNTS)?, id)? {
            // A row outlives no account: the purge removes both.
            if let Some(user) = get_user(&users, row.owner)? {
                out.push((row, user));
            }
        }
        out.sort_by(|a, b| a.1.email.cmp(&b.1.email));
        Ok(out)
    }

    /// Sends the notice: one outbox mail per affected account (template [`NOTICE_TEMPLATE`],
    /// topic `incident/<id>`), queued in the audited transaction that records the sending, and
    /// the banner for each. Only a confirmed incident with affected accounts is notified; a
    /// notice more than 72 hours after confirmation is refused without its reason.
    pub fn notify_incident(
        &self,
        id: IncidentId,
        notice: &NoticeParts,
        late_reason: Option<&str>,
    ) -> Result<IncidentRecord> {
        let notice = checked_notice(notice)?;
        let late_reason = late_reason
            .map(|r| clean_paragraphs(r, MAX_TEXT_CHARS))
            .filter(|r| !r.is_empty());
        let values = notice_values(id, &notice);
        let rec = self.audited(None, |txn, now| {
            let mut incidents = txn.open_table(INCIDENTS)?;
            let mut rec = get_incident(&incidents, id)?;
            match rec.state {
                IncidentState::Confirmed => {}
                IncidentState::Investigating => {
                    return Err(VaultError::Conflict(
                        "confirm the incident first: a notice is for a confirmed breach",
                    ));
                }
                IncidentState::Notified => {
                    return Err(VaultError::Conflict("the notice was already sent"));
                }
                IncidentState::Resolved => {
                    return Err(VaultError::Conflict("the incident is resolved"));
                }
            }
            let hours_after = (now - rec.confirmed_at_ms.unwrap_or(now)) / 3_600_000;
            let late_reason = match (rec.late_at(now), late_reason.clone()) {
                (false, _) => None,
                (true, Some(reason)) => Some(reason),
                (true, None) => {
                    return Err(VaultError::invalid(
                        "late_reason",
                        format!(
                            "is required: the notice goes out {hours_after} hours after the \
                             confirmation, past the 72 hours; say why it is late"
                        ),
                    ));
                }
            };
            let mut rows = txn.open_table(INCIDENT_ACCOUNTS)?;
            let affected = rows_of(&rows, id)?;
            if affected.is_empty() {
                return Err(VaultError::Conflict(
                    "choose the affected accounts first: nobody would be notified",
                ));
            }
            let users = txn.open_table(USERS)?;
            let mut sent = 0u64;
            for mut row in affected {
                // A row never outlives its account: the purge removes both.
                let Some(user) = get_user(&users, row.owner)? else {
                    continue;
                };
                let draft = MailDraft {
                    to: user.email,
                    account: Some(user.id),
                    template: NOTICE_TEMPLATE.into(),
                    values: values.clone(),
                    topic: topic_of(id),
                };
                row.message = Some(queue_mail(txn, draft, now)?);
                row.notified_at_ms = Some(now);
                put_row(&mut rows, &row)?;
                sent += 1;
            }
            let mut text =
                format!("notice sent to {sent} account(s), {hours_after} hours after confirmation");
            let mut detail = format!("{sent} account(s)");
            if let Some(reason) = &late_reason {
                text.push_str(&format!("; late: {reason}"));
                detail.push_str(&format!("; late, {hours_after} hours after confirmation"));
            }
            rec.state = IncidentState::Notified;
            rec.notified_at_ms = Some(now);
            rec.notice = Some(notice.clone());
            rec.late_reason = late_reason;
            rec.note(now, TimelineKind::Notified, text);
            incidents.insert(id.raw(), encode(&rec).as_slice())?;
            Ok((
                rec,
                incident_event(id, AuditAction::IncidentNotify).detail(detail),
            ))
        })?;
        self.jobs_queued();
        Ok(rec)
    }

    /// Adds a note to the incident's timeline.
    pub fn note_incident(&self, id: IncidentId, text: &str) -> Result<IncidentRecord> {
        let text = required("text", text, MAX_TEXT_CHARS)?;
        self.audited(None, |txn, now| {
            let (rec, ()) = edit_incident(txn, id, |rec| {
                rec.note(now, TimelineKind::Note, text.clone());
                Ok(())
            })?;
            Ok((rec, incident_event(id, AuditAction::IncidentNote)))
        })
    }

    /// Closes the incident, with an optional note; from any state but resolved.
    pub fn resolve_incident(&self, id: IncidentId, note: &str) -> Result<IncidentRecord> {
        let note = clean_paragraphs(note, MAX_TEXT_CHARS);
        self.audited(None, |txn, now| {
            let (rec, ()) = edit_incident(txn, id, |rec| {
                if rec.state == IncidentState::Resolved {
                    return Err(VaultError::Conflict("the incident is already resolved"));
                }
                let mut text = match rec.state {
                    IncidentState::Investigating => "resolved without being confirmed as a breach",
                    IncidentState::Confirmed => "resolved without a notice",
                    _ => "resolved",
                }
                .to_owned();
                if !note.is_empty() {
                    text.push_str(": ");
                    text.push_str(&note);
                }
                rec.state = IncidentState::Resolved;
                rec.resolved_at_ms = Some(now);
                rec.note(now, TimelineKind::Resolved, text);
                Ok(())
            })?;
            Ok((rec, incident_event(id, AuditAction::IncidentResolve)))
        })
    }
}

impl Account<'_> {
    /// The breach notices this account was sent, newest first; with `dismissed`, also those
    /// its owner dismissed.
    pub fn breach_notices(&self, dismissed: bool) -> Result<Vec<OwnerNotice>> {
        let txn = self.vault.db().begin_read()?;
        let incidents = txn.open_table(INCIDENTS)?;
        let rows = txn.open_table(INCIDENT_ACCOUNTS)?;
        let mut out = Vec::new();
        for row in rows.range((self.owner.raw(), 0)..=(self.owner.raw(), u128::MAX))? {
            let row: AffectedRow = decode("incident_accounts", row?.1.value())?;
            let Some(sent_at_ms) = row.notified_at_ms else {
                continue;
            };
            if row.dismissed_at_ms.is_some() && !dismissed {
                continue;
            }
            let incident = get_incident(&incidents, row.incident)?;
            if let Some(notice) = incident.notice {
                out.push(OwnerNotice {
                    incident: row.incident,
                    sent_at_ms,
                    dismissed_at_ms: row.dismissed_at_ms,
                    notice,
                });
            }
        }
        out.sort_by_key(|n| std::cmp::Reverse(n.sent_at_ms));
        Ok(out)
    }

    /// Hides a notice's banner for good. `NotFound` for a notice this account was not sent;
    /// dismissing it again changes nothing.
    pub fn dismiss_notice(&self, incident: IncidentId, client: &ClientInfo) -> Result<()> {
        let owner = self.owner;
        self.vault.audited_if_changed(Some(client), |txn, now| {
            let mut table = txn.open_table(INCIDENT_ACCOUNTS)?;
            let raw = table
                .get((owner.raw(), incident.raw()))?
                .map(|v| v.value().to_vec())
                .ok_or(VaultError::NotFound)?;
            let mut row: AffectedRow = decode("incident_accounts", &raw)?;
            if row.notified_at_ms.is_none() {
                return Err(VaultError::NotFound);
            }
            if row.dismissed_at_ms.is_some() {
                return Ok(((), None));
            }
            row.dismissed_at_ms = Some(now);
            put_row(&mut table, &row)?;
            let event = AuditEvent::by_owner(owner, AuditAction::NoticeDismiss)
                .object(format!("incident/{incident}"));
            Ok(((), Some(event)))
        })
    }
}

#[cfg(test)]
mod tests;
