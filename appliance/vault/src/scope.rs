use crate::ids::UserId;

/// Proof that the caller acts for one tenant. Its constructor is private to the store:
/// only authentication builds one, so no HTTP handler can forge access to another tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerScope {
    owner: UserId,
}

impl OwnerScope {
    pub(crate) fn new(owner: UserId) -> Self {
        Self { owner }
    }

    pub fn owner(&self) -> UserId {
        self.owner
    }
}

/// A valid session: who it belongs to and which session it is.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub scope: OwnerScope,
    /// Public id of the session (not the token).
    pub session_id: String,
}
