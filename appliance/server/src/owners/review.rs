//! Review with clients, the owner's side: comments on a track, its versions, what each
//! recipient of a share heard, upload links, and notifications.

use std::collections::HashMap;

use studiovault_api::review::{
    CommentChange, CommentList, CreateUploadLink, MarkRead, NewComment, NotificationList,
    NotificationMail, RecipientListening, ShareListening, UploadLinkList, UploadLinkView,
    VersionList,
};
use studiovault_vault::review::{NewUploadLink, UploadLinkRecord};
use studiovault_vault::{
    Authenticated, ClientInfo, CommentId, NotificationId, ReviewMail, ShareId, UploadLinkId,
};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::tracks::track_id;
use super::{auth, owner_call, owner_state};
use crate::review::{
    comment_input, comment_view, notification_view, track_listening, version_views,
};
use crate::web::{ApiError, AppState, blocking, client, json_body, respond, with_state};

fn json_created<T: serde::Serialize>(body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), StatusCode::CREATED).into_response()
}

fn parse_id<T>(raw: &str, what: &str, parse: fn(&str) -> Option<T>) -> Result<T, ApiError> {
    parse(raw).ok_or_else(|| ApiError::not_found(what))
}

fn upload_link_view(link: &UploadLinkRecord, token: &str, now: i64) -> UploadLinkView {
    UploadLinkView {
        id: link.id.to_string(),
        name: link.name.clone(),
        folder: link.folder.clone(),
        link: format!("/u/{token}"),
        created_at: link.created_at_ms,
        expires_at: link.expires_at_ms,
        status: link.status(now).into(),
        password: link.has_password(),
        max_files: link.max_files,
        max_bytes: link.max_bytes,
        files_received: link.files_received,
        bytes_received: link.bytes_received,
        tracks: link.tracks.iter().map(ToString::to_string).collect(),
    }
}

fn comment_routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let list = warp::path!("api" / "tracks" / String / "comments")
        .and(warp::get())
        .and(owner_state(state))
        .then(
            |id: String, auth: Authenticated, state: AppState| async move {
                let result = async {
                    let id = track_id(&id)?;
                    let vault = state.vault.clone();
                    let comments = blocking(move || vault.library(&auth.scope).comments(id))
                        .await
                        .map_err(ApiError::not_found_as("track"))?;
                    let list = CommentList {
                        comments: comments.iter().map(comment_view).collect(),
                    };
                    Ok(warp::reply::json(&list).into_response())
                };
                respond(result.await)
            },
        );
    let add = warp::path!("api" / "tracks" / String / "comments")
        .and(warp::post())
        .and(auth(state))
        .and(json_body::<NewComment>())
        .and(client())
        .and(with_state(state))
        .then(
            |id: String,
             auth: Authenticated,
             req: NewComment,
             client: ClientInfo,
             state: AppState| async move {
                let result = async {
                    let id = track_id(&id)?;
                    let input = comment_input(req)?;
                    let vault = state.vault.clone();
                    let comment = blocking(move || {
                        vault.library(&auth.scope).add_comment(id, input, &client)
                    })
                    .await
                    .map_err(ApiError::not_found_as("track"))?;
                    Ok(json_created(&comment_view(&comment)))
                };
                respond(result.await)
            },
        );
    let change = warp::path!("api" / "comments" / String)
        .and(warp::post())
        .and(auth(state))
        .and(json_body::<CommentChange>())
        .and(client())
        .and(with_state(state))
        .then(
            |id: String,
             auth: Authenticated,
             req: CommentChange,
             client: ClientInfo,
             state: AppState| async move {
                let result = async {
                    let id = parse_id(&id, "comment", CommentId::parse)?;
                    let vault = state.vault.clone();
                    let comment = blocking(move || {
                        vault.library(&auth.scope).change_comment(
                            id,
                            req.resolved,
                            req.shared,
                            &client,
                        )
                    })
                    .await
                    .map_err(ApiError::not_found_as("comment"))?;
                    Ok(warp::reply::json(&comment_view(&comment)).into_response())
                };
                respond(result.await)
            },
        );
    let delete = warp::path!("api" / "comments" / String)
        .and(warp::delete())
        .and(owner_call(state))
        .then(
            |id: String, auth: Authenticated, client: ClientInfo, state: AppState| async move {
                let result = async {
                    let id = parse_id(&id, "comment", CommentId::parse)?;
                    let vault = state.vault.clone();
                    blocking(move || vault.library(&auth.scope).delete_comment(id, &client))
                        .await
                        .map_err(ApiError::not_found_as("comment"))?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                };
                respond(result.await)
            },
        );
    vec![list.boxed(), add.boxed(), change.boxed(), delete.boxed()]
}

fn track_routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let versions = warp::path!("api" / "tracks" / String / "versions")
        .and(warp::get())
        .and(owner_state(state))
        .then(
            |id: String, auth: Authenticated, state: AppState| async move {
                let result = async {
                    let id = track_id(&id)?;
                    let vault = state.vault.clone();
                    let versions = blocking(move || vault.library(&auth.scope).versions(id))
                        .await
                        .map_err(ApiError::not_found_as("track"))?;
                    let list = VersionList {
                        versions: version_views(&versions),
                    };
                    Ok(warp::reply::json(&list).into_response())
                };
                respond(result.await)
            },
        );
    let listening = warp::path!("api" / "shares" / String / "listening")
        .and(warp::get())
        .and(owner_state(state))
        .then(
            |id: String, auth: Authenticated, state: AppState| async move {
                let result = async {
                    let id = parse_id(&id, "share", ShareId::parse)?;
                    let vault = state.vault.clone();
                    let view = blocking(move || {
                        let detail = vault.shares(&auth.scope).get(id)?;
                        let heard = vault.share_listening(auth.scope.owner(), &detail.share)?;
                        let library = vault.library(&auth.scope);
                        let names: HashMap<_, _> = detail
                            .recipients
                            .iter()
                            .map(|(r, _)| (r.id, r.name.clone()))
                            .collect();
                        let mut recipients = Vec::new();
                        for (recipient, records) in heard {
                            let tracks: Vec<_> = records
                                .iter()
                                .map(|r| {
                                    let name = library
                                        .get(r.track)
                                        .map_or_else(|_| "(deleted track)".into(), |t| t.info.name);
                                    track_listening(r, name)
                                })
                                .collect();
                            recipients.push(RecipientListening {
                                recipient: recipient.to_string(),
                                name: names.get(&recipient).cloned().unwrap_or_default(),
                                listened_secs: records.iter().map(|r| r.listened_secs).sum(),
                                last_listen: records.iter().filter_map(|r| r.last_listen_ms).max(),
                                tracks,
                            });
                        }
                        Ok(ShareListening {
                            share: id.to_string(),
                            recipients,
                        })
                    })
                    .await
                    .map_err(ApiError::not_found_as("share"))?;
                    Ok(warp::reply::json(&view).into_response())
                };
                respond(result.await)
            },
        );
    vec![versions.boxed(), listening.boxed()]
}

fn upload_link_routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let list = warp::path!("api" / "upload-links")
        .and(warp::get())
        .and(owner_state(state))
        .then(|auth: Authenticated, state: AppState| async move {
            let result = async {
                let vault = state.vault.clone();
                let links = blocking(move || vault.upload_links(&auth.scope).list()).await?;
                let now = state.vault.now_ms();
                let list = UploadLinkList {
                    links: links
                        .iter()
                        .map(|(l, token)| upload_link_view(l, token, now))
                        .collect(),
                };
                Ok(warp::reply::json(&list).into_response())
            };
            respond(result.await)
        });
    let create =
        warp::path!("api" / "upload-links")
            .and(warp::post())
            .and(auth(state))
            .and(json_body::<CreateUploadLink>())
            .and(client())
            .and(with_state(state))
            .then(
                |auth: Authenticated,
                 req: CreateUploadLink,
                 client: ClientInfo,
                 state: AppState| async move {
                    let result = async {
                        let new = NewUploadLink {
                            name: req.name,
                            folder: req.folder,
                            expires_at_ms: req.expires_at,
                            max_files: req.max_files,
                            max_bytes: req.max_bytes,
                            password: req.password,
                        };
                        let vault = state.vault.clone();
                        let (link, token) =
                            blocking(move || vault.upload_links(&auth.scope).create(new, &client))
                                .await?;
                        Ok(json_created(&upload_link_view(
                            &link,
                            &token,
                            state.vault.now_ms(),
                        )))
                    };
                    respond(result.await)
                },
            );
    let revoke = warp::path!("api" / "upload-links" / String)
        .and(warp::delete())
        .and(owner_call(state))
        .then(
            |id: String, auth: Authenticated, client: ClientInfo, state: AppState| async move {
                let result = async {
                    let id = parse_id(&id, "upload link", UploadLinkId::parse)?;
                    let vault = state.vault.clone();
                    blocking(move || vault.upload_links(&auth.scope).revoke(id, &client))
                        .await
                        .map_err(ApiError::not_found_as("upload link"))?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                };
                respond(result.await)
            },
        );
    vec![list.boxed(), create.boxed(), revoke.boxed()]
}

fn notification_routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let list = warp::path!("api" / "notifications")
        .and(warp::get())
        .and(owner_state(state))
        .then(|auth: Authenticated, state: AppState| async move {
            let result = async {
                let vault = state.vault.clone();
                let (all, mail) = blocking(move || vault.notifications(&auth.scope).list()).await?;
                let list = NotificationList {
                    unread: all.iter().filter(|n| !n.read).count() as u32,
                    notifications: all.iter().map(notification_view).collect(),
                    mail: mail.as_str().into(),
                };
                Ok(warp::reply::json(&list).into_response())
            };
            respond(result.await)
        });
    let read = warp::path!("api" / "notifications" / "read")
        .and(warp::post())
        .and(auth(state))
        .and(json_body::<MarkRead>())
        .and(with_state(state))
        .then(
            |auth: Authenticated, req: MarkRead, state: AppState| async move {
                let result = async {
                    let ids = match req.ids {
                        Some(ids) => Some(
                            ids.iter()
                                .map(|i| {
                                    NotificationId::parse(i).ok_or_else(|| {
                                        ApiError::bad_request("ids: not notification ids")
                                    })
                                })
                                .collect::<Result<Vec<_>, _>>()?,
                        ),
                        None => None,
                    };
                    let vault = state.vault.clone();
                    blocking(move || vault.notifications(&auth.scope).mark_read(ids.as_deref()))
                        .await?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                };
                respond(result.await)
            },
        );
    let mail =
        warp::path!("api" / "notifications" / "mail")
            .and(warp::put())
            .and(auth(state))
            .and(json_body::<NotificationMail>())
            .and(client())
            .and(with_state(state))
            .then(
                |auth: Authenticated,
                 req: NotificationMail,
                 client: ClientInfo,
                 state: AppState| async move {
                    let result = async {
                        let mail = ReviewMail::parse(&req.mail).ok_or_else(|| {
                            ApiError::bad_request("mail is `immediate`, `digest` or `off`")
                        })?;
                        let vault = state.vault.clone();
                        blocking(move || vault.notifications(&auth.scope).set_mail(mail, &client))
                            .await?;
                        Ok(StatusCode::NO_CONTENT.into_response())
                    };
                    respond(result.await)
                },
            );
    vec![list.boxed(), read.boxed(), mail.boxed()]
}

pub(super) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let mut all = comment_routes(state);
    all.extend(track_routes(state));
    all.extend(upload_link_routes(state));
    all.extend(notification_routes(state));
    all
}
