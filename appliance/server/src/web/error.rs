//! Every error answer is JSON: `{"error": code, "message": sentence}` with the right status.

use std::convert::Infallible;

use studiovault_api::ErrorBody;
use studiovault_vault::VaultError;
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::template::TemplateError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl warp::reject::Reject for ApiError {}

impl ApiError {
    fn disk_full() -> Self {
        tracing::error!("the data directory's disk is full: a write was refused");
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "disk_full",
            "the appliance's disk is full: nothing of this request was stored; the admin must \
             free space",
        )
    }

    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// Names what the store did not find: it answers "not found" alike for another tenant's
    /// object and for none at all, without saying what. Other errors pass unchanged.
    pub fn not_found_as(what: &'static str) -> impl FnOnce(Self) -> Self {
        move |e| {
            if e.status == StatusCode::NOT_FOUND {
                Self::not_found(what)
            } else {
                e
            }
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; the error is in its log",
        )
    }

    pub fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
            retry_after: self.retry_after,
        };
        let mut res =
            warp::reply::with_status(warp::reply::json(&body), self.status).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = secs.to_string().parse()
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res.extensions_mut()
            .insert(super::security_log::ErrorCode(self.code));
        res
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        use VaultError as E;
        match e {
            E::NotFound => Self::not_found("object"),
            E::Invalid { field, reason } => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                format!("{field} {reason}"),
            ),
            E::EmailTaken => Self::new(StatusCode::CONFLICT, "email_taken", e.to_string()),
            E::BadCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "bad_credentials", e.to_string())
            }
            E::TotpRequired => Self::new(StatusCode::UNAUTHORIZED, "totp_required", e.to_string()),
            E::BadTotp => Self::new(StatusCode::UNAUTHORIZED, "bad_totp", e.to_string()),
            E::AccountInactive(_) => {
                Self::new(StatusCode::FORBIDDEN, "account_inactive", e.to_string())
            }
            E::EmailLinkInvalid => Self::new(StatusCode::NOT_FOUND, "link_invalid", e.to_string()),
            E::EmailLinkExpired => Self::new(StatusCode::GONE, "link_expired", e.to_string()),
            E::SessionInvalid => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "sign in first: the session is missing, revoked or expired",
            ),
            E::Forbidden(reason) => Self::new(StatusCode::FORBIDDEN, "forbidden", reason),
            E::LimitReached(_) => Self::new(StatusCode::FORBIDDEN, "limit_reached", e.to_string()),
            E::NotReady => Self::new(StatusCode::CONFLICT, "copy_not_ready", e.to_string()),
            E::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            E::LegalHold => Self::new(StatusCode::CONFLICT, "legal_hold", e.to_string()),
            E::PlanRequired(_) => Self::new(StatusCode::FORBIDDEN, "plan_required", e.to_string()),
            E::ProcessingStopped { restricted, .. } => Self::new(
                StatusCode::CONFLICT,
                if restricted {
                    "processing_restricted"
                } else {
                    "processing_objected"
                },
                e.to_string(),
            ),
            E::WorkerUnknown => Self::new(
                StatusCode::UNAUTHORIZED,
                "worker_unknown",
                "the worker token is unknown: enrol the worker and use the token shown then",
            ),
            E::WorkerRevoked => Self::new(
                StatusCode::UNAUTHORIZED,
                "worker_revoked",
                "this worker was revoked by the admin",
            ),
            E::LeaseLost => Self::new(
                StatusCode::CONFLICT,
                "lease_lost",
                "the job is no longer this worker's: it was cancelled, finished, or taken by \
                 another worker after the lease ran out",
            ),
            E::QuotaExceeded { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "quota_exceeded",
                e.to_string(),
            ),
            E::DiskFull { .. } => Self::disk_full(),
            E::Io(io) | E::Store(redb::Error::Io(io))
                if io.kind() == std::io::ErrorKind::StorageFull =>
            {
                Self::disk_full()
            }
            other => {
                tracing::error!(error = %other, "request failed inside the store");
                Self::internal()
            }
        }
    }
}

impl From<TemplateError> for ApiError {
    fn from(e: TemplateError) -> Self {
        tracing::error!(error = %e, "a page failed to render");
        Self::internal()
    }
}

impl From<crate::transcribe::TranscribeError> for ApiError {
    fn from(e: crate::transcribe::TranscribeError) -> Self {
        use crate::transcribe::TranscribeError;
        match e {
            TranscribeError::Busy => ApiError {
                retry_after: Some(10),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
            },
            TranscribeError::Failed(reason) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "transcription_failed",
                reason,
            ),
        }
    }
}

impl From<crate::suspect::SuspectError> for ApiError {
    fn from(e: crate::suspect::SuspectError) -> Self {
        use crate::suspect::SuspectError;
        match e {
            SuspectError::Busy => ApiError {
                retry_after: Some(60),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "busy", e.to_string())
            },
            SuspectError::Unreadable(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unreadable_audio",
                e.to_string(),
            ),
            SuspectError::BodyBroken => ApiError::bad_request(e.to_string()),
            SuspectError::Job(reason) => {
                tracing::error!(error = %reason, "a leak trace could not run");
                ApiError::internal()
            }
        }
    }
}

/// Runs blocking store work off the async reactor.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, VaultError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "a blocking task failed");
            Err(ApiError::internal())
        }
    }
}

/// Turns a handler's error into its JSON answer.
pub fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}

/// A route's "no such `what`", as a rejection: it answers 404, unless another route that
/// matched further refused the request with an [`ApiError`] of its own (a route tried later
/// comes first in warp's combined rejection, so an `ApiError` here would hide that one).
#[derive(Debug)]
pub struct NoSuch(pub &'static str);

impl warp::reject::Reject for NoSuch {}

/// Maps every rejection warp can produce to a JSON error.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    use warp::reject;
    let e = if let Some(api) = rejection.find::<ApiError>() {
        ApiError {
            status: api.status,
            code: api.code,
            message: api.message.clone(),
            retry_after: api.retry_after,
        }
    } else if rejection.find::<reject::PayloadTooLarge>().is_some() {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is too large",
        )
    } else if rejection.find::<reject::LengthRequired>().is_some() {
        ApiError::new(
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "send a Content-Length header",
        )
    } else if rejection.find::<reject::UnsupportedMediaType>().is_some() {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "wrong Content-Type for this endpoint",
        )
    } else if let Some(e) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        ApiError::bad_request(format!(
            "malformed JSON body: {}",
            std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string())
        ))
    } else if rejection.find::<reject::InvalidQuery>().is_some() {
        ApiError::bad_request("malformed query string")
    } else if let Some(h) = rejection.find::<reject::InvalidHeader>() {
        ApiError::bad_request(format!("malformed {} header", h.name()))
    } else if let Some(h) = rejection.find::<reject::MissingHeader>() {
        ApiError::bad_request(format!("missing {} header", h.name()))
    } else if let Some(NoSuch(what)) = rejection.find::<NoSuch>() {
        ApiError::not_found(what)
    } else if rejection.find::<reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method",
        )
    } else if rejection.is_not_found() {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    } else {
        tracing::warn!(rejection = ?rejection, "unmapped rejection");
        ApiError::bad_request("the request could not be handled")
    };
    Ok(e.into_response())
}
