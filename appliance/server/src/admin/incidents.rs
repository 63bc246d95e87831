//! The incident register (`/v1/incidents`): record, confirm, note and resolve incidents; choose
//! the accounts one affects (previewed first); preview the five-part notice exactly as mailed,
//! and send it. An incident is named by its id or a unique beginning of it.

use std::collections::HashMap;

use studiovault_api::admin::{
    AffectedAccount, AffectedAccounts, AffectedSelection, ConfirmIncident, DeliveryCounts,
    IncidentDetail, IncidentNote, IncidentView, NewIncident, NoticeParts, NoticePreview,
    NoticeRecipient, NotifyIncident, TimelineEntry,
};
use studiovault_mail::Template;
use studiovault_vault::incidents::{
    AffectedRow, IncidentRecord, NOTICE_TEMPLATE, checked_notice, notice_values,
};
use studiovault_vault::{
    Delivery, IncidentId, MessageId, MessageRecord, UserRecord, Vault, VaultError,
};
use warp::http::StatusCode;
use warp::{Filter, Reply};

use super::{body, json};
use crate::listener::Routes;
use crate::web::{ApiError, AppState, blocking, respond, with_state};

/// The fewest hex digits a reference may give.
const MIN_REFERENCE: usize = 4;

/// The incident `reference` names: its id, or a beginning of it no other incident shares.
fn find(vault: &Vault, reference: &str) -> Result<IncidentRecord, VaultError> {
    if let Some(id) = IncidentId::parse(reference) {
        return vault.incident(id);
    }
    let reference = reference.trim().to_ascii_lowercase();
    if reference.len() < MIN_REFERENCE || !reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(VaultError::NotFound);
    }
    let mut matching = vault
        .incidents()?
        .into_iter()
        .filter(|i| i.id.to_string().starts_with(&reference));
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(VaultError::NotFound),
        (Some(_), Some(_)) => Err(VaultError::Invalid {
            field: "incident",
            reason: format!("`{reference}` begins several incidents' ids: give more of it"),
        }),
    }
}

/// How the notice's mails stand, from each recipient's delivery.
fn delivery_counts(recipients: &[NoticeRecipient]) -> DeliveryCounts {
    let mut counts = DeliveryCounts::default();
    for r in recipients {
        match r.delivery.as_str() {
            "queued" | "sending" => counts.queued += 1,
            "sent" => counts.sent += 1,
            "failed" => counts.failed += 1,
            _ => {}
        }
    }
    counts
}

fn incident_view(rec: &IncidentRecord, delivery: DeliveryCounts) -> IncidentView {
    IncidentView {
        id: rec.id.to_string(),
        title: rec.title.clone(),
        description: rec.description.clone(),
        state: rec.state,
        created_at: rec.created_at_ms,
        confirmed_at: rec.confirmed_at_ms,
        notify_by: rec.notify_by_ms(),
        notified_at: rec.notified_at_ms,
        resolved_at: rec.resolved_at_ms,
        encrypted: rec.encrypted,
        selection: rec.selection.clone(),
        affected: rec.affected,
        notice: rec.notice.clone(),
        late_reason: rec.late_reason.clone(),
        delivery,
        timeline: rec
            .timeline
            .iter()
            .map(|e| TimelineEntry {
                at: e.at_ms,
                kind: e.kind.as_str().into(),
                text: e.text.clone(),
            })
            .collect(),
    }
}

/// An affected account, its notice and the delivery of its mail.
fn recipient(
    row: &AffectedRow,
    email: &str,
    messages: &HashMap<MessageId, &MessageRecord>,
) -> NoticeRecipient {
    let message = row.message.and_then(|id| messages.get(&id));
    let (delivery, delivered_at, error) = match (row.message, message.map(|m| &m.state)) {
        (None, _) => ("not sent", None, None),
        // The outbox keeps a sent message's record for a while only (`sent_mail_retention_days`).
        (Some(_), None) => ("sent", None, None),
        (Some(_), Some(Delivery::Queued)) => {
            ("queued", None, message.and_then(|m| m.last_error.clone()))
        }
        (Some(_), Some(Delivery::Sending)) => ("sending", None, None),
        (Some(_), Some(Delivery::Sent { at_ms })) => ("sent", Some(*at_ms), None),
        (Some(_), Some(Delivery::Failed { reason })) => ("failed", None, Some(reason.clone())),
    };
    NoticeRecipient {
        account: row.owner.to_string(),
        email: email.to_owned(),
        notified_at: row.notified_at_ms,
        delivery: delivery.into(),
        attempts: message.map_or(0, |m| m.attempts),
        delivered_at,
        error,
        dismissed_at: row.dismissed_at_ms,
    }
}

fn view(vault: &Vault, rec: &IncidentRecord) -> Result<IncidentView, VaultError> {
    Ok(detail(vault, rec)?.incident)
}

fn detail(vault: &Vault, rec: &IncidentRecord) -> Result<IncidentDetail, VaultError> {
    let messages = vault.messages_about(&rec.topic())?;
    let by_id: HashMap<MessageId, &MessageRecord> = messages.iter().map(|m| (m.id, m)).collect();
    let recipients: Vec<NoticeRecipient> = vault
        .affected_accounts(rec.id)?
        .iter()
        .map(|(row, user)| recipient(row, &user.email, &by_id))
        .collect();
    Ok(IncidentDetail {
        incident: incident_view(rec, delivery_counts(&recipients)),
        recipients,
    })
}

fn accounts(users: Vec<UserRecord>) -> AffectedAccounts {
    AffectedAccounts {
        count: users.len() as u64,
        accounts: users
            .into_iter()
            .map(|u| AffectedAccount {
                id: u.id.to_string(),
                email: u.email,
            })
            .collect(),
    }
}

/// The notice's template filled in, as the mail runner fills it for each recipient.
async fn render_notice(
    state: &AppState,
    values: Vec<(String, String)>,
) -> Result<studiovault_mail::Rendered, ApiError> {
    let dir = state.config.mail.templates_dir.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Template::load(NOTICE_TEMPLATE, dir.as_deref()).map(|t| t.render(&pairs))
    })
    .await
    .map_err(|_| ApiError::internal())?;
    rendered.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "mail_template",
            e.to_string(),
        )
    })
}

/// `POST /v1/incidents/{reference}/{action}` with a JSON body `B`: `change` runs on the
/// incident the reference names, on the blocking pool, and its answer is sent as JSON.
fn incident_call<B, T>(
    state: &AppState,
    action: &'static str,
    change: fn(&Vault, IncidentRecord, B) -> Result<T, VaultError>,
) -> Routes
where
    B: serde::de::DeserializeOwned + Send + 'static,
    T: serde::Serialize + Send + 'static,
{
    warp::path("v1")
        .and(warp::path("incidents"))
        .and(warp::path::param::<String>())
        .and(warp::path(action))
        .and(warp::path::end())
        .and(warp::post())
        .and(body::<B>())
        .and(with_state(state))
        .then(
            move |reference: String, req: B, state: AppState| async move {
                let vault = state.vault.clone();
                let result = blocking(move || {
                    let rec = find(&vault, &reference)?;
                    change(&vault, rec, req)
                })
                .await
                .map_err(ApiError::not_found_as("incident"))
                .map(|v| json(&v));
                respond(result)
            },
        )
        .boxed()
}

pub(super) fn routes(state: &AppState) -> Vec<Routes> {
    let s = || with_state(state);
    let list = warp::path!("v1" / "incidents")
        .and(warp::get())
        .and(s())
        .then(|state: AppState| async move {
            let vault = state.vault.clone();
            respond(
                blocking(move || {
                    vault
                        .incidents()?
                        .iter()
                        .map(|rec| view(&vault, rec))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await
                .map(|v| json(&v)),
            )
        });
    let record = warp::path!("v1" / "incidents")
        .and(warp::post())
        .and(body::<NewIncident>())
        .and(s())
        .then(|req: NewIncident, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || {
                let rec = vault.record_incident(&req)?;
                view(&vault, &rec)
            })
            .await
            .map(|v| warp::reply::with_status(json(&v), StatusCode::CREATED).into_response());
            respond(result)
        });
    let show = warp::path!("v1" / "incidents" / String)
        .and(warp::get())
        .and(s())
        .then(|reference: String, state: AppState| async move {
            let vault = state.vault.clone();
            let result = blocking(move || detail(&vault, &find(&vault, &reference)?))
                .await
                .map_err(ApiError::not_found_as("incident"))
                .map(|v| json(&v));
            respond(result)
        });
    let confirm = incident_call(state, "confirm", |vault, rec, req: ConfirmIncident| {
        view(vault, &vault.confirm_incident(rec.id, &req)?)
    });
    let note = incident_call(state, "note", |vault, rec, req: IncidentNote| {
        view(vault, &vault.note_incident(rec.id, &req.text)?)
    });
    let resolve = incident_call(state, "resolve", |vault, rec, req: IncidentNote| {
        view(vault, &vault.resolve_incident(rec.id, &req.text)?)
    });
    let affected = incident_call(state, "affected", |vault, rec, req: AffectedSelection| {
        Ok(accounts(vault.choose_affected(rec.id, &req)?))
    });
    let notify = incident_call(state, "notify", |vault, rec, req: NotifyIncident| {
        let sent = vault.notify_incident(rec.id, &req.notice, req.late_reason.as_deref())?;
        detail(vault, &sent)
    });
    let preview_affected = warp::path!("v1" / "incidents" / String / "affected" / "preview")
        .and(warp::post())
        .and(body::<AffectedSelection>())
        .and(s())
        .then(
            |reference: String, req: AffectedSelection, state: AppState| async move {
                let vault = state.vault.clone();
                let result = blocking(move || {
                    find(&vault, &reference)?;
                    Ok(accounts(vault.preview_affected(&req)?))
                })
                .await
                .map_err(ApiError::not_found_as("incident"))
                .map(|v| json(&v));
                respond(result)
            },
        );
    let preview_notice = warp::path!("v1" / "incidents" / String / "notice" / "preview")
        .and(warp::post())
        .and(body::<NoticeParts>())
        .and(s())
        .then(
            |reference: String, req: NoticeParts, state: AppState| async move {
                let result = async {
                    let vault = state.vault.clone();
                    let origin = state.config.public_url();
                    let (values, recipients, late) = blocking(move || {
                        let rec = find(&vault, &reference)?;
                        let notice = checked_notice(&req)?;
                        let recipients = vault.affected_accounts(rec.id)?.len() as u64;
                        let late = rec.late_at(vault.now_ms());
                        let mut values = notice_values(rec.id, &notice);
                        // As the mail runner adds it to every message.
                        values.push(("origin".into(), origin));
                        Ok((values, recipients, late))
                    })
                    .await
                    .map_err(ApiError::not_found_as("incident"))?;
                    let rendered = render_notice(&state, values).await?;
                    Ok(json(&NoticePreview {
                        subject: rendered.subject,
                        text: rendered.text,
                        html: rendered.html,
                        recipients,
                        late,
                    }))
                };
                respond(result.await)
            },
        );
    vec![
        list.boxed(),
        record.boxed(),
        preview_affected.boxed(),
        preview_notice.boxed(),
        show.boxed(),
        confirm,
        note,
        resolve,
        affected,
        notify,
    ]
}

#[cfg(test)]
mod tests {
    use studiovault_vault::UserId;

    use super::*;

    /// Each recipient's delivery comes from its outbox message; a sent message whose record
    /// the outbox has since pruned still reads as sent.
    #[test]
    fn recipients_read_their_mails_delivery() -> Result<(), &'static str> {
        let owner = UserId::parse("0123456789abcdef0123456789abcdef").ok_or("id")?;
        let incident = IncidentId::parse("fedcba9876543210fedcba9876543210").ok_or("id")?;
        let message = MessageId::parse("00000000000000000000000000000007").ok_or("id")?;
        let row = |message: Option<MessageId>| AffectedRow {
            owner,
            incident,
            chosen_at_ms: 1,
            notified_at_ms: message.map(|_| 2),
            message,
            dismissed_at_ms: None,
        };
        let mail = |state: Delivery| MessageRecord {
            id: message,
            account: Some(owner),
            to: "ana@studio.test".into(),
            template: NOTICE_TEMPLATE.into(),
            values: Vec::new(),
            topic: String::new(),
            state,
            attempts: 3,
            created_at_ms: 2,
            last_error: Some("421 try later".into()),
        };
        let read = |row: &AffectedRow, mail: Option<&MessageRecord>| {
            let messages: HashMap<MessageId, &MessageRecord> =
                mail.map(|m| (m.id, m)).into_iter().collect();
            recipient(row, "ana@studio.test", &messages)
        };
        let waiting = read(&row(Some(message)), Some(&mail(Delivery::Queued)));
        assert_eq!(
            (
                waiting.delivery.as_str(),
                waiting.attempts,
                waiting.error.as_deref()
            ),
            ("queued", 3, Some("421 try later"))
        );
        let failed = read(
            &row(Some(message)),
            Some(&mail(Delivery::Failed {
                reason: "550 no such user".into(),
            })),
        );
        assert_eq!(failed.error.as_deref(), Some("550 no such user"));
        let sent = read(
            &row(Some(message)),
            Some(&mail(Delivery::Sent { at_ms: 9 })),
        );
        assert_eq!(
            (sent.delivery.as_str(), sent.delivered_at),
            ("sent", Some(9))
        );
        assert_eq!(read(&row(Some(message)), None).delivery, "sent");
        assert_eq!(read(&row(None), None).delivery, "not sent");
        let counts = delivery_counts(&[waiting, failed, sent]);
        assert_eq!((counts.queued, counts.sent, counts.failed), (1, 1, 1));
        Ok(())
    }

    /// The built-in template has a slot for every value the vault gives, and the mail carries
    /// all five parts.
    #[test]
    fn the_notice_template_takes_every_part() -> Result<(), studiovault_mail::TemplateError> {
        let parts = NoticeParts {
            what_happened: "a bucket was open".into(),
            data_affected: "ciphertext of <your> tracks".into(),
            containment: "closed it".into(),
            user_action: "nothing".into(),
            contact: "security@studio.test".into(),
        };
        let id = IncidentId::parse("0123456789abcdef0123456789abcdef")
            .ok_or(studiovault_mail::TemplateError::Unknown("id".into()))?;
        let mut values = notice_values(id, &parts);
        values.push(("origin".into(), "https://vault.studio.test".into()));
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mail = Template::load(NOTICE_TEMPLATE, None)?.render(&pairs);
        for part in [
            "a bucket was open",
            "ciphertext of <your> tracks",
            "closed it",
            "nothing",
            "security@studio.test",
            "https://vault.studio.test",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(mail.text.contains(part), "{part} in {}", mail.text);
        }
        assert!(mail.html.contains("ciphertext of &lt;your&gt; tracks"));
        for body in [&mail.text, &mail.html, &mail.subject] {
            assert!(!body.contains("{{"), "an unfilled slot: {body}");
        }
        Ok(())
    }
}
