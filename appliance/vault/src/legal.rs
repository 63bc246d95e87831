//! Legal requests: an authority's demand for data, from intake to the answer.
//!
//! - Intake records who asks (authority, legal basis, reference, kind), by when, for which
//!   accounts and which kinds of data ([`LegalDataType`]).
//! - A legal hold keeps the accounts: the purge refuses a held account
//!   ([`crate::VaultError::LegalHold`]) until the hold is released, with a reason.
//! - The users are told by e-mail (the `legal-notice` template, topic `legal/<id>`) before
//!   anything is handed over, unless the admin records a gag with its end: then no notice goes
//!   out until the gag ends, and then it goes out by itself ([`Vault::send_due_legal_notices`],
//!   run by the server's housekeeping). Nothing is handed over, and no request is complied
//!   with, for an account neither notified nor under a gag in force.
//! - The hand-over ([`Vault::hand_over`]) carries the requested kinds of data of the named
//!   accounts only; each account's hand-over and each read of its audio
//!   ([`Vault::hand_over_audio`]) is audited with the admin as actor and the account as owner,
//!   so it shows in the user's own activity, once the notice has gone out.
//! - Every step is audited (object `legal/<id>`) and kept in the request's timeline; the yearly
//!   transparency report ([`Vault::legal_report`]) counts them.

use std::collections::{BTreeMap, BTreeSet};

use redb::{ReadableDatabase, WriteTransaction};
use serde_json::Value;
use studiovault_api::admin::{
    AuditEntry, LegalDataType, LegalKind, LegalReport, LegalReportRow, LegalState, NewLegalRequest,
};

use crate::Vault;
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::blob::BlobReader;
use crate::error::{Result, VaultError};
use crate::export::{account_document, activity_of, every_track, share_details};
use crate::ids::{LegalRequestId, TrackId, UserId};
use crate::library::{TrackRecord, clean_text};
use crate::outbox::{MailDraft, queue_mail};
use crate::records::{
    Gag, LegalHold, LegalRequestRecord, Notice, all_requests, get_request, get_user, put_request,
};
use crate::scope::OwnerScope;
use crate::shares::ShareDetail;
use crate::store::{LEGAL_REQUESTS, USERS};

/// The notice's mail template (`appliance/mail/templates/legal-notice.{txt,html}`).
pub const NOTICE_TEMPLATE: &str = "legal-notice";

const MAX_TEXT_CHARS: usize = 200;
const MAX_ACCOUNTS: usize = 100;

/// What a hand-over carries: for each account, the documents asked for and the tracks whose
/// audio follows them.
#[derive(Debug)]
pub struct LegalHandover {
    pub request: LegalRequestRecord,
    pub accounts: Vec<HandedOverAccount>,
}

/// One account's part of a hand-over: only what the request asked for is `Some`.
#[derive(Debug)]
pub struct HandedOverAccount {
    pub owner: UserId,
    pub account: Option<Value>,
    pub tracks: Option<Vec<TrackRecord>>,
    pub shares: Option<Vec<ShareDetail>>,
    pub activity: Option<Vec<AuditEntry>>,
    /// The tracks whose original audio is handed over, read one at a time with
    /// [`Vault::hand_over_audio`]; empty unless the request asks for audio. Those the owner
    /// deleted under a hold are among them.
    pub audio: Vec<TrackRecord>,
    /// The tracks the owner deleted while a hold held the account, when the request asks for
    /// tracks or audio.
    pub deleted_under_hold: Vec<HeldTrack>,
}

/// `2026-06-01 14:30 UTC`, for the timeline and the notice.
pub fn utc_minute(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// How the notice names a kind of request.
fn kind_words(kind: LegalKind) -> &'static str {
    match kind {
        LegalKind::CourtOrder => "a court order",
        LegalKind::Subpoena => "a subpoena",
        LegalKind::Warrant => "a warrant",
        LegalKind::Preservation => "a request to preserve data",
        LegalKind::Emergency => "an emergency request",
        LegalKind::Other => "a legal request",
    }
}

/// How the notice names a kind of data.
fn data_words(data: LegalDataType) -> &'static str {
    match data {
        LegalDataType::Account => "your account details (e-mail address, plan, storage, dates)",
        LegalDataType::Tracks => "your tracks' details (names, formats, sizes, analysis)",
        LegalDataType::Audio => "your original audio files",
        LegalDataType::Shares => {
            "your shares, their recipients and what each opened, played or downloaded"
        }
        LegalDataType::Activity => "the activity log of your account",
    }
}

fn data_list(types: &[LegalDataType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn required(field: &'static str, raw: &str) -> Result<String> {
    let text = clean_text(raw, MAX_TEXT_CHARS);
    if text.is_empty() {
        return Err(VaultError::invalid(field, "must not be empty"));
    }
    Ok(text)
}

/// A request's audit record: by the admin, about `owner` when it touches one account's data.
fn legal_event(
    request: &LegalRequestRecord,
    owner: Option<UserId>,
    action: AuditAction,
) -> AuditEvent {
    AuditEvent::new(Actor::Admin, owner, action).object(request.object())
}

/// Refuses what hands data over for an account that has neither been sent its notice nor is
/// under a gag in force.
fn check_may_hand_over(request: &LegalRequestRecord, owner: UserId, now: i64) -> Result<()> {
    if request.state == LegalState::Refused {
        return Err(VaultError::Conflict(
            "the request was refused: nothing is handed over",
        ));
    }
    if request.notified_at(owner).is_none() && !request.gag_in_force(now) {
        return Err(VaultError::Conflict(
            "the users have not been sent their notice and no gag is in force: send the \
             notice first (studiovault legal notify), or record the gag",
        ));
    }
    Ok(())
}

impl Vault {
    /// Records a legal request as received; with `hold`, its accounts are held at once.
    pub fn record_legal_request(&self, new: &NewLegalRequest) -> Result<LegalRequestRecord> {
        let authority = required("authority", &new.authority)?;
        let legal_basis = required("legal_basis", &new.legal_basis)?;
        let reference = required("reference", &new.reference)?;
        if new.deadline <= 0 {
            return Err(VaultError::invalid("deadline", "must be a date"));
        }
        if new.accounts.is_empty() || new.accounts.len() > MAX_ACCOUNTS {
            return Err(VaultError::invalid(
                "accounts",
                format!("name 1 to {MAX_ACCOUNTS} accounts"),
            ));
        }
        let mut accounts = Vec::new();
        for who in &new.accounts {
            let user = self.admin().find(who).map_err(|e| match e {
                VaultError::NotFound => VaultError::invalid(
                    "accounts",
                    format!("name no account `{}`", clean_text(who, 80)),
                ),
                other => other,
            })?;
            if !accounts.contains(&user.id) {
                accounts.push(user.id);
            }
        }
        let mut data_types = new.data_types.clone();
        data_types.sort_unstable();
        data_types.dedup();
        if data_types.is_empty() {
            return Err(VaultError::invalid(
                "data_types",
                "name at least one kind of data",
            ));
        }
        self.audited(None, |txn, now| {
            let mut request = LegalRequestRecord {
                id: LegalRequestId::random(),
                kind: new.kind,
                authority,
                legal_basis,
                reference,
                received_at_ms: now,
                deadline_ms: new.deadline,
                accounts,
                data_types,
                state: LegalState::Received,
                reason: None,
                decided_at_ms: None,
                hold: new.hold.then_some(LegalHold {
                    placed_at_ms: now,
                    released_at_ms: None,
                    release_reason: None,
                }),
                gag: None,
                notices: Vec::new(),
                exports: 0,
                timeline: Vec::new(),
            };
            let detail = format!(
                "{} from {} (reference {}, {}), due {}: {} account(s); asks for {}",
                request.kind,
                request.authority,
                request.reference,
                request.legal_basis,
                utc_minute(request.deadline_ms),
                request.accounts.len(),
                data_list(&request.data_types),
            );
            request.step(now, format!("received: {detail}"));
            if new.hold {
                request.step(
                    now,
                    format!("legal hold placed on {} account(s)", request.accounts.len()),
                );
            }
            put_request(&mut txn.open_table(LEGAL_REQUESTS)?, &request)?;
            let held = if new.hold { "; accounts held" } else { "" };
            let event = legal_event(&request, None, AuditAction::LegalReceive)
                .detail(format!("{detail}{held}"));
            Ok((request, event))
        })
    }

    /// Every legal request, the newest first.
    pub fn legal_requests(&self) -> Result<Vec<LegalRequestRecord>> {
        let txn = self.db().begin_read()?;
        let mut all = all_requests(&txn.open_table(LEGAL_REQUESTS)?)?;
        all.sort_by(|a, b| {
            b.received_at_ms
                .cmp(&a.received_at_ms)
                .then(a.id.cmp(&b.id))
        });
        Ok(all)
    }

    pub fn legal_request(&self, id: LegalRequestId) -> Result<LegalRequestRecord> {
        let txn = self.db().begin_read()?;
        get_request(&txn.open_table(LEGAL_REQUESTS)?, id)?.ok_or(VaultError::NotFound)
    }

    /// Reads request `id`, lets `change` check and edit it and name its audit record, writes it
    /// back; one audited transaction.
    fn change_request(
        &self,
        id: LegalRequestId,
        change: impl FnOnce(&WriteTransaction, &mut LegalRequestRecord, i64) -> Result<AuditEvent>,
    ) -> Result<LegalRequestRecord> {
        self.audited(None, |txn, now| {
            let mut table = txn.open_table(LEGAL_REQUESTS)?;
            let mut request = get_request(&table, id)?.ok_or(VaultError::NotFound)?;
            let event = change(txn, &mut request, now)?;
            put_request(&mut table, &request)?;
            Ok((request, event))
        })
    }

    /// Holds the request's accounts: none of them is purged until the hold is released.
    pub fn place_legal_hold(&self, id: LegalRequestId) -> Result<LegalRequestRecord> {
        self.change_request(id, |_, request, now| {
            if request.on_hold() {
                return Err(VaultError::Conflict("the accounts are already held"));
            }
            request.hold = Some(LegalHold {
                placed_at_ms: now,
                released_at_ms: None,
                release_reason: None,
            });
            let what = format!("legal hold placed on {} account(s)", request.accounts.len());
            request.step(now, what.clone());
            Ok(legal_event(request, None, AuditAction::LegalHold).detail(what))
        })
    }

    /// Releases the hold, saying why. What it kept of tracks the owners deleted goes now where
    /// no other hold holds the account (or at the next housekeeping, should that fail); the
    /// accounts' purges, if due, go ahead at the next housekeeping.
    pub fn release_legal_hold(
        &self,
        id: LegalRequestId,
        reason: &str,
    ) -> Result<LegalRequestRecord> {
        let reason = required("reason", reason)?;
        let released = self.change_request(id, |_, request, now| {
            let hold = request
                .hold
                .as_mut()
                .filter(|h| h.released_at_ms.is_none())
                .ok_or(VaultError::Conflict("the request holds no account"))?;
            hold.released_at_ms = Some(now);
            hold.release_reason = Some(reason.clone());
            request.step(now, format!("legal hold released: {reason}"));
            Ok(legal_event(request, None, AuditAction::LegalRelease).detail(reason))
        })?;
        if let Err(e) = self.discard_released_held_tracks() {
            tracing::warn!(error = %e, "tracks kept by a released hold are left to housekeeping");
        }
        Ok(released)
    }

    /// Records a gag: no notice goes out before `until_ms`; then it goes out by itself. A
    /// second gag replaces the first while no notice has gone out.
    pub fn record_gag(
        &self,
        id: LegalRequestId,
        until_ms: i64,
        note: Option<&str>,
    ) -> Result<LegalRequestRecord> {
        let note = note
            .map(|n| clean_text(n, MAX_TEXT_CHARS))
            .filter(|n| !n.is_empty());
        self.change_request(id, |_, request, now| {
            if until_ms <= now {
                return Err(VaultError::invalid("until", "must be in the future"));
            }
            if !request.notices.is_empty() {
                return Err(VaultError::Conflict(
                    "notices have gone out already: a gag comes too late",
                ));
            }
            request.gag = Some(Gag {
                until_ms,
                recorded_at_ms: now,
                note: note.clone(),
            });
            let what = match &note {
                Some(note) => format!("gag until {}: {note}", utc_minute(until_ms)),
                None => format!("gag until {}", utc_minute(until_ms)),
            };
            request.step(now, format!("{what}; no notice before then"));
            Ok(legal_event(request, None, AuditAction::LegalGag).detail(what))
        })
    }

    /// Queues the notice to every account of the request not sent one yet. Refused while a
    /// gag is in force.
    pub fn notify_legal(&self, id: LegalRequestId) -> Result<LegalRequestRecord> {
        let request = self.legal_request(id)?;
        if request.gag_in_force(self.now_ms()) {
            return Err(VaultError::Conflict(
                "a gag is in force: the notice goes out by itself when it ends",
            ));
        }
        let due = request.unnotified();
        if due.is_empty() {
            return Err(VaultError::Conflict(
                "every account the request names has been sent its notice",
            ));
        }
        let mut queued = 0;
        for account in due {
            queued += usize::from(self.notify_account(id, account, "notice")?);
        }
        if queued == 0 {
            return Err(VaultError::Conflict(
                "the accounts still to be told have been deleted since: there is no one left to \
                 notify",
            ));
        }
        self.legal_request(id)
    }

    /// Queues the notices of every request whose gag has ended; answers how many. The server's
    /// housekeeping runs it, on the store's clock.
    pub fn send_due_legal_notices(&self) -> Result<usize> {
        let now = self.now_ms();
        let mut sent = 0;
        for request in self.legal_requests()? {
            if request.gag.is_none() || request.gag_in_force(now) {
                continue;
            }
            let mut queued = 0;
            for account in request.unnotified() {
                queued +=
                    usize::from(self.notify_account(request.id, account, "gag ended: notice")?);
            }
            if queued > 0 {
                tracing::info!(request = %request.id, notices = queued, "a legal request's gag ended: its notices are queued");
            }
            sent += queued;
        }
        Ok(sent)
    }

    /// Queues `account`'s notice, recorded in the request and audited about the account, in one
    /// transaction. False when there is nothing to send: the notice went out already, or the
    /// account is gone.
    fn notify_account(&self, id: LegalRequestId, account: UserId, what: &str) -> Result<bool> {
        self.audited_if_changed(None, |txn, now| {
            let mut table = txn.open_table(LEGAL_REQUESTS)?;
            let mut request = get_request(&table, id)?.ok_or(VaultError::NotFound)?;
            let user = get_user(&txn.open_table(USERS)?, account)?;
            let Some(user) = user.filter(|_| request.notified_at(account).is_none()) else {
                return Ok((false, None));
            };
            let handed_over = match request.exports {
                0 => "Nothing has been handed over.".to_owned(),
                _ => "Data was handed over while an order kept us from telling you; that order \
                      has now ended."
                    .to_owned(),
            };
            let data = request
                .data_types
                .iter()
                .map(|t| format!("- {}", data_words(*t)))
                .collect::<Vec<_>>()
                .join("\n");
            let draft = MailDraft {
                to: user.email.clone(),
                account: Some(account),
                template: NOTICE_TEMPLATE.into(),
                values: vec![
                    ("kind".into(), kind_words(request.kind).into()),
                    ("authority".into(), request.authority.clone()),
                    ("legal_basis".into(), request.legal_basis.clone()),
                    ("reference".into(), request.reference.clone()),
                    ("received".into(), utc_minute(request.received_at_ms)),
                    ("deadline".into(), utc_minute(request.deadline_ms)),
                    ("data".into(), data),
                    ("handed_over".into(), handed_over),
                ],
                topic: request.object(),
            };
            queue_mail(txn, draft, now)?;
            request.notices.push(Notice {
                account,
                at_ms: now,
            });
            request.step(now, format!("{what} queued for account {account}"));
            put_request(&mut table, &request)?;
            let event = legal_event(&request, Some(account), AuditAction::LegalNotice)
                .detail(format!("{what} queued"));
            Ok((true, Some(event)))
        })
    }

    /// Records the answer: complied, partially complied or refused, and why. Complying is
    /// refused for accounts neither sent their notice nor under a gag in force, and refusing
    /// once data was handed over.
    pub fn decide_legal(
        &self,
        id: LegalRequestId,
        outcome: LegalState,
        reason: &str,
    ) -> Result<LegalRequestRecord> {
        if outcome == LegalState::Received {
            return Err(VaultError::invalid(
                "outcome",
                "must be complied, partially_complied or refused",
            ));
        }
        let reason = required("reason", reason)?;
        self.change_request(id, |txn, request, now| {
            if request.state != LegalState::Received {
                return Err(VaultError::Conflict("the request was answered already"));
            }
            let users = txn.open_table(USERS)?;
            if outcome == LegalState::Refused {
                if request.exports > 0 {
                    return Err(VaultError::Conflict(
                        "data was handed over: record the request as complied or partially \
                         complied",
                    ));
                }
            } else {
                // An account purged since has nothing left to hand over, and no one to tell.
                for account in &request.accounts {
                    if get_user(&users, *account)?.is_some() {
                        check_may_hand_over(request, *account, now)?;
                    }
                }
            }
            request.state = outcome;
            request.reason = Some(reason.clone());
            request.decided_at_ms = Some(now);
            let what = format!("{}: {reason}", outcome.as_str().replace('_', " "));
            request.step(now, what.clone());
            Ok(legal_event(request, None, AuditAction::LegalDecide).detail(what))
        })
    }

    /// Gathers what the request asks for, of its accounts only, and records the hand-over of
    /// each account's data (by the admin, about that account) before answering it. Audio is read
    /// afterwards, one track at a time, with [`Vault::hand_over_audio`].
    pub fn hand_over(&self, id: LegalRequestId) -> Result<LegalHandover> {
        let request = self.legal_request(id)?;
        let now = self.now_ms();
        // An account purged since (its data is gone) has nothing to hand over.
        let existing: Vec<UserId> = {
            let txn = self.db().begin_read()?;
            let users = txn.open_table(USERS)?;
            let mut existing = Vec::new();
            for account in &request.accounts {
                if get_user(&users, *account)?.is_some() {
                    existing.push(*account);
                }
            }
            existing
        };
        for account in &existing {
            check_may_hand_over(&request, *account, now)?;
        }
        let wants = |t: LegalDataType| request.data_types.contains(&t);
        let mut accounts = Vec::new();
        for owner in &existing {
            let scope = OwnerScope::new(*owner);
            let account = self.account(&scope);
            let (tracks, deleted_under_hold) =
                if wants(LegalDataType::Tracks) || wants(LegalDataType::Audio) {
                    (
                        every_track(&self.library(&scope))?,
                        self.held_tracks(*owner)?,
                    )
                } else {
                    (Vec::new(), Vec::new())
                };
            accounts.push(HandedOverAccount {
                owner: *owner,
                account: if wants(LegalDataType::Account) {
                    Some(account_document(self, &account)?)
                } else {
                    None
                },
                audio: if wants(LegalDataType::Audio) {
                    let deleted = deleted_under_hold.iter().map(|h| h.track.clone());
                    tracks.iter().cloned().chain(deleted).collect()
                } else {
                    Vec::new()
                },
                tracks: wants(LegalDataType::Tracks).then_some(tracks),
                deleted_under_hold,
                shares: if wants(LegalDataType::Shares) {
                    Some(share_details(&self.shares(&scope))?)
                } else {
                    None
                },
                activity: if wants(LegalDataType::Activity) {
                    Some(activity_of(&account)?)
                } else {
                    None
                },
            });
        }
        for (i, part) in accounts.iter().enumerate() {
            let bytes: u64 = part.audio.iter().map(|t| t.size_bytes).sum();
            let what = format!(
                "handed over {} of account {}: {} audio file(s), {bytes} bytes",
                data_list(&request.data_types),
                part.owner,
                part.audio.len(),
            );
            self.change_request(id, |_, request, now| {
                check_may_hand_over(request, part.owner, now)?;
                if i == 0 {
                    request.exports += 1;
                }
                request.step(now, what.clone());
                Ok(
                    legal_event(request, Some(part.owner), AuditAction::LegalExport)
                        .detail(what.clone()),
                )
            })?;
        }
        Ok(LegalHandover {
            request: self.legal_request(id)?,
            accounts,
        })
    }

    /// Opens a track's original audio to hand it over: only for an account the request names,
    /// only if it asks for audio, and audited as the admin's read of the owner's audio.
    pub fn hand_over_audio(
        &self,
        id: LegalRequestId,
        owner: UserId,
        track: TrackId,
    ) -> Result<BlobReader> {
        let request = self.legal_request(id)?;
        if !request.accounts.contains(&owner) || !request.data_types.contains(&LegalDataType::Audio)
        {
            return Err(VaultError::NotFound);
        }
        check_may_hand_over(&request, owner, self.now_ms())?;
        let scope = OwnerScope::new(owner);
        let library = self.library(&scope);
        let record = match library.get(track) {
            Err(VaultError::NotFound) => {
                self.held_track(owner, track)?
                    .ok_or(VaultError::NotFound)?
                    .track
            }
            found => found?,
        };
        self.audit_only(
            None,
            legal_event(&request, Some(owner), AuditAction::LegalAudioRead).detail(format!(
                "track/{track}: {} bytes handed over",
                record.size_bytes
            )),
        )?;
        library.open_blob(&record)
    }

    /// The transparency summary of the requests received in `year` (UTC).
    pub fn legal_report(&self, year: i32) -> Result<LegalReport> {
        let start = |y: i32| -> Result<i64> {
            time::Date::from_calendar_date(y, time::Month::January, 1)
                .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
                .map_err(|_| VaultError::invalid("year", "is out of range"))
        };
        let (from, to) = (start(year)?, start(year + 1)?);
        let requests: Vec<LegalRequestRecord> = self
            .legal_requests()?
            .into_iter()
            .filter(|r| (from..to).contains(&r.received_at_ms))
            .collect();
        let count = |rows: &[&LegalRequestRecord], state: LegalState| {
            rows.iter().filter(|r| r.state == state).count() as u64
        };
        let row = |name: String, rows: &[&LegalRequestRecord]| LegalReportRow {
            name,
            received: rows.len() as u64,
            complied: count(rows, LegalState::Complied),
            partially_complied: count(rows, LegalState::PartiallyComplied),
            refused: count(rows, LegalState::Refused),
        };
        let mut by_kind: BTreeMap<LegalKind, Vec<&LegalRequestRecord>> = BTreeMap::new();
        let mut by_authority: BTreeMap<String, Vec<&LegalRequestRecord>> = BTreeMap::new();
        for r in &requests {
            by_kind.entry(r.kind).or_default().push(r);
            by_authority.entry(r.authority.clone()).or_default().push(r);
        }
        let all: Vec<&LegalRequestRecord> = requests.iter().collect();
        let accounts: BTreeSet<UserId> = requests
            .iter()
            .flat_map(|r| r.accounts.iter().copied())
            .collect();
        let notified: BTreeSet<UserId> = requests
            .iter()
            .flat_map(|r| r.notices.iter().map(|n| n.account))
            .collect();
        let mut by_authority: Vec<LegalReportRow> = by_authority
            .into_iter()
            .map(|(name, rows)| row(name, &rows))
            .collect();
        by_authority.sort_by(|a, b| b.received.cmp(&a.received).then(a.name.cmp(&b.name)));
        Ok(LegalReport {
            year,
            received: all.len() as u64,
            complied: count(&all, LegalState::Complied),
            partially_complied: count(&all, LegalState::PartiallyComplied),
            refused: count(&all, LegalState::Refused),
            pending: count(&all, LegalState::Received),
            accounts: accounts.len() as u64,
            users_notified: notified.len() as u64,
            gagged: requests.iter().filter(|r| r.gag.is_some()).count() as u64,
            by_kind: by_kind
                .into_iter()
                .map(|(kind, rows)| row(kind.as_str().to_owned(), &rows))
                .collect(),
            by_authority,
        })
    }
}

mod held;

pub use held::HeldTrack;
pub(crate) use held::keep_in;

#[cfg(test)]
mod tests;

/// The legal requests' part of an account purge. A held account is never purged, so the
/// requests naming this one hold it no longer; each keeps what it was (the transparency report
/// counts it) but names, instead of the account, one random stand-in for this purge, also in its
/// notices and timeline, so no request links to the purged account any more.
pub(crate) fn purge_owner(vault: &Vault, txn: &WriteTransaction, owner: UserId) -> Result<()> {
    held::purge_owner(vault, txn, owner)?;
    let stand_in = UserId::random();
    let id = owner.to_string();
    let mut table = txn.open_table(LEGAL_REQUESTS)?;
    for mut request in all_requests(&table)? {
        let before = crate::store::encode(&request);
        for account in request.accounts.iter_mut().filter(|a| **a == owner) {
            *account = stand_in;
        }
        for notice in request.notices.iter_mut().filter(|n| n.account == owner) {
            notice.account = stand_in;
        }
        for step in &mut request.timeline {
            step.what = step.what.replace(&id, "a deleted account");
        }
        if crate::store::encode(&request) != before {
            put_request(&mut table, &request)?;
        }
    }
    Ok(())
}
