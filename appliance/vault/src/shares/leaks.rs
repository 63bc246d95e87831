//! Leak tracing: from a payload (and soft bits) read off a suspect file to the share and
//! recipient whose copy it was.

use super::*;

impl Vault {
    /// A leak trace across every owner (the admin's). Audited once for each owner whose share
    /// it reached (the decoded recipient's and every suspect's), with that owner as the
    /// record's owner, so their "who accessed my files" shows the admin's look at their share;
    /// a trace that reached no share is audited once, with no owner.
    pub fn trace_any(&self, query: &TraceQuery, actor_note: &str) -> Result<TraceOutcome> {
        let outcome = self.trace_outcome(query, None)?;
        let object = query
            .payload
            .map_or("watermark/none".into(), |p| format!("watermark/{p:016x}"));
        let event = |owner: Option<UserId>| {
            AuditEvent::new(Actor::Admin, owner, AuditAction::LeakTrace)
                .object(object.clone())
                .detail(format!("{actor_note}: {}", outcome.summary_for(owner)))
        };
        let owners = outcome.owners();
        let events = if owners.is_empty() {
            vec![event(None)]
        } else {
            owners.into_iter().map(|o| event(Some(o))).collect()
        };
        self.audit_only_each(None, events)?;
        Ok(outcome)
    }

    /// Payloads of every recipient of a watermarking share (of `owner` only, when given): the
    /// candidates a suspect copy's soft bits are scored against.
    pub(super) fn watermark_candidates(&self, owner: Option<UserId>) -> Result<Vec<u64>> {
        let txn = self.db().begin_read()?;
        let shares = txn.open_table(SHARES)?;
        let recipients = txn.open_table(RECIPIENTS)?;
        let mut out = Vec::new();
        let range = match owner {
            Some(o) => (o.raw(), 0)..=(o.raw(), u128::MAX),
            None => (0, 0)..=(u128::MAX, u128::MAX),
        };
        for row in shares.range(range)? {
            let share: ShareRecord = decode("shares", row?.1.value())?;
            if share.watermark {
                for r in &share.recipients {
                    out.push(read_recipient(&recipients, *r)?.payload);
                }
            }
        }
        Ok(out)
    }

    /// Every candidate across owners, for the admin's trace.
    pub fn watermark_candidates_any(&self) -> Result<Vec<u64>> {
        self.watermark_candidates(None)
    }

    pub(super) fn trace_outcome(
        &self,
        query: &TraceQuery,
        only_owner: Option<UserId>,
    ) -> Result<TraceOutcome> {
        let decoded = match query.payload {
            Some(p) => self.report_for(p, only_owner)?,
            None => None,
        };
        let mut suspects = Vec::new();
        for (payload, score) in &query.suspects {
            if Some(*payload) == query.payload {
                continue;
            }
            if let Some(report) = self.report_for(*payload, only_owner)? {
                suspects.push((report, *score));
            }
        }
        suspects.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(TraceOutcome { decoded, suspects })
    }

    fn report_for(&self, payload: u64, only_owner: Option<UserId>) -> Result<Option<TraceReport>> {
        let txn = self.db().begin_read()?;
        let Some(recipient) = txn
            .open_table(WATERMARK_PAYLOADS)?
            .get(payload)?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        let recipient = read_recipient(
            &txn.open_table(RECIPIENTS)?,
            RecipientId::from_raw(recipient),
        )?;
        if only_owner.is_some_and(|o| o != recipient.owner) {
            return Ok(None);
        }
        let share = read_share(&txn.open_table(SHARES)?, recipient.owner, recipient.share)?;
        let owner_email = get_user(&txn.open_table(USERS)?, recipient.owner)?
            .map(|u| u.email)
            .unwrap_or_default();
        // Every copy issued, kept or not; and the copies still kept that a record from before
        // the issued list has only in `renders`.
        let mut issued: Vec<(TrackId, i64)> = recipient
            .copies_issued
            .iter()
            .map(|copy| (copy.track, copy.at_ms))
            .collect();
        let renders = txn.open_table(RENDERS)?;
        for track in rendered_tracks(&renders, recipient.id)? {
            if let Some(r) = renders.get((recipient.id.raw(), track.raw()))? {
                let render: RenderRecord = decode("renders", r.value())?;
                if !issued.contains(&(track, render.created_at_ms)) {
                    issued.push((track, render.created_at_ms));
                }
            }
        }
        issued.sort_by_key(|&(_, at_ms)| at_ms);
        let tracks = txn.open_table(TRACKS)?;
        let mut copies = Vec::new();
        for (track, at_ms) in issued {
            let name = match tracks.get((recipient.owner.raw(), track.raw()))? {
                Some(t) => decode::<TrackRecord>("tracks", t.value())?.info.name,
                None => "(deleted track)".into(),
            };
            copies.push((track, name, at_ms));
        }
        Ok(Some(TraceReport {
            payload,
            owner: recipient.owner,
            owner_email,
            share,
            recipient,
            copies,
        }))
    }
}
