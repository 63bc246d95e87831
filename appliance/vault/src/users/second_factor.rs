//! Second factors: TOTP codes (each step accepted once) and one-time recovery codes.

use super::*;

pub(super) fn totp_for(secret: Vec<u8>, email: &str) -> TOTP {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        1,
        TOTP_STEP_SECS,
        secret,
        Some("Studio Vault".into()),
        email.to_owned(),
    )
}

pub(super) fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

pub(super) fn recovery_hash(code: &str) -> String {
    hex::encode(Sha256::digest(normalize_recovery(code).as_bytes()))
}

/// Whether `code` is a fresh TOTP code (or an unused recovery code) of `rec`; if so, burns it
/// in `rec`, which the caller stores in the same transaction.
pub(super) fn second_factor_accepted(
    vault: &Vault,
    txn: &WriteTransaction,
    rec: &mut UserRecord,
    code: &str,
) -> Result<bool> {
    let code = code.trim();
    let key = tenant_key(vault, &txn.open_table(TENANT_KEYS)?, rec.id)?;
    let email = rec.email.clone();
    let Some(state) = rec.totp.as_mut() else {
        return Ok(false);
    };
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let secret = hex::decode(&state.sealed_secret)
            .ok()
            .and_then(|s| key.open_secret(TOTP_SECRET_PURPOSE, &s))
            .ok_or_else(|| VaultError::CorruptRecord {
                table: "users",
                reason: "the TOTP secret does not open".into(),
            })?;
        let totp = totp_for(secret.to_vec(), &email);
        let now_step = (vault.now_ms() / 1000).max(0) as u64 / TOTP_STEP_SECS;
        let matched = [now_step.saturating_sub(1), now_step, now_step + 1]
            .into_iter()
            .filter(|step| *step > state.last_step)
            .find(|step| {
                bool::from(
                    totp.generate(step * TOTP_STEP_SECS)
                        .as_bytes()
                        .ct_eq(code.as_bytes()),
                )
            });
        Ok(match matched {
            Some(step) => {
                state.last_step = step;
                true
            }
            None => false,
        })
    } else {
        let hash = recovery_hash(code);
        let before = state.recovery.len();
        state
            .recovery
            .retain(|h| !bool::from(h.as_bytes().ct_eq(hash.as_bytes())));
        Ok(state.recovery.len() < before)
    }
}

/// Checks a TOTP code (or a recovery code) and burns it, atomically.
pub(super) fn consume_second_factor(vault: &Vault, user: UserId, code: &str) -> Result<()> {
    let txn = vault.begin_write()?;
    edit_user(&txn, user, |rec| {
        if second_factor_accepted(vault, &txn, rec, code)? {
            Ok(())
        } else {
            Err(VaultError::BadTotp)
        }
    })?;
    txn.commit()?;
    Ok(())
}
