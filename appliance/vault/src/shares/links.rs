//! Recipients' links: each is the recipient id plus an HMAC tag under the appliance's link
//! key, checked before anything is read.

use super::*;

impl Vault {
    pub(crate) fn link_key(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.master().share_link_key()
    }

    /// The recipient's link token: their id and a 128-bit tag, so it can be shown to the owner
    /// again without being stored.
    pub fn link_token(&self, recipient: RecipientId) -> String {
        let t = tag(&self.link_key(), &[b"link", &recipient.to_bytes()]);
        let mut raw = recipient.to_bytes().to_vec();
        raw.extend_from_slice(&t[..16]);
        base64::Engine::encode(&b64(), raw)
    }

    /// Checks a link token and the state of its share; `NotFound` whether the link is
    /// malformed, forged, unknown, revoked or expired, so the answer says nothing about which.
    pub fn open_link(&self, token: &str) -> Result<RecipientGrant> {
        let raw = base64::Engine::decode(&b64(), token.as_bytes()).unwrap_or_default();
        if raw.len() != 32 {
            return Err(VaultError::NotFound);
        }
        let id_bytes: [u8; 16] = raw[..16].try_into().map_err(|_| VaultError::NotFound)?;
        let recipient = RecipientId::from_raw(u128::from_be_bytes(id_bytes));
        let expected = tag(&self.link_key(), &[b"link", &id_bytes]);
        if !bool::from(expected[..16].ct_eq(&raw[16..])) {
            return Err(VaultError::NotFound);
        }
        let grant = {
            let txn = self.db().begin_read()?;
            let rec = read_recipient(&txn.open_table(RECIPIENTS)?, recipient)?;
            RecipientGrant {
                owner: rec.owner,
                share: rec.share,
                recipient,
            }
        };
        grant.live_state(self)?;
        Ok(grant)
    }
}
