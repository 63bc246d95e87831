//! The library: list, get, rename, delete, Range playback, waveform peaks and melody to MIDI.

use serde::Deserialize;
use studiovault_api::public::{
    AnalysisView, KeyView, LoudnessView, RenameTrack, StemOfView, TempoView, TrackPage, TrackView,
    VersionOfView,
};
use studiovault_audio::MelodyRange;
use studiovault_vault::{
    AnalysisState, AudioUse, Authenticated, ClientInfo, TrackId, TrackQuery, TrackRecord, TrackSort,
};
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{auth, owner_call, owner_state};
use crate::web::{
    ApiError, AppState, ByteRange, PeaksQuery, blocking, client, content_disposition, json_body,
    peaks_response, resolve, respond, set, stream_blob, with_state,
};

const MAX_PAGE: u64 = 500;

#[derive(Debug, Deserialize)]
struct ListQuery {
    offset: Option<u64>,
    limit: Option<u64>,
    sort: Option<String>,
    order: Option<String>,
    q: Option<String>,
    tempo_min: Option<f64>,
    tempo_max: Option<f64>,
    key: Option<String>,
    /// Length range, in seconds.
    duration_min: Option<f64>,
    duration_max: Option<f64>,
    /// Added within this range, Unix ms.
    added_after: Option<i64>,
    added_before: Option<i64>,
    /// `include` lists stems beside their tracks.
    stems: Option<String>,
    /// `all` lists every version of each track; by default only the newest.
    versions: Option<String>,
    /// Only this folder's tracks.
    folder: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MelodyQuery {
    range: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AudioQuery {
    download: Option<String>,
}

pub(super) fn view(rec: &TrackRecord) -> TrackView {
    view_placed(rec, None)
}

/// [`view`] with the track's place among its versions: how many there are and whether it is
/// the newest (without it, a version is shown as the newest of as many as its number).
pub(super) fn view_placed(rec: &TrackRecord, place: Option<(u32, bool)>) -> TrackView {
    let done = match &rec.analysis {
        AnalysisState::Done(r) => Some(r),
        _ => None,
    };
    TrackView {
        id: rec.id.to_string(),
        name: rec.info.name.clone(),
        original_filename: rec.info.original_filename.clone(),
        container: rec.info.container.clone(),
        codec: rec.info.codec.clone(),
        mime_type: rec.info.mime_type.clone(),
        size_bytes: rec.size_bytes,
        sha256: rec.sha256.clone(),
        duration_secs: rec.info.duration_secs,
        sample_rate: rec.info.sample_rate,
        channels: rec.info.channels,
        bits_per_sample: rec.info.bits_per_sample,
        created_at: rec.created_at_ms,
        updated_at: rec.updated_at_ms,
        analysis: AnalysisView {
            state: match &rec.analysis {
                AnalysisState::Pending => "pending",
                AnalysisState::Done(_) => "done",
                AnalysisState::Failed { .. } => "failed",
                AnalysisState::Off => "off",
            }
            .into(),
            reason: match &rec.analysis {
                AnalysisState::Failed { reason } => Some(reason.clone()),
                _ => None,
            },
        },
        tempo: done.and_then(|r| {
            Some(TempoView {
                bpm: r.tempo_bpm?,
                confidence: r.tempo_confidence.unwrap_or(0.0),
            })
        }),
        key: done.and_then(|r| {
            Some(KeyView {
                name: r.key.clone()?,
                camelot: r.camelot.clone()?,
                confidence: r.key_confidence.unwrap_or(0.0),
            })
        }),
        loudness: done.map(|r| LoudnessView {
            integrated_lufs: r.integrated_lufs,
            range_lu: r.loudness_range_lu,
            true_peak_dbtp: r.true_peak_dbtp,
        }),
        stem_of: rec.stem.as_ref().map(|s| StemOfView {
            parent: s.parent.to_string(),
            stem: s.name.clone(),
            draft: s.draft,
            backend: s.backend.clone(),
            model: s.model.clone(),
        }),
        stem_count: u32::try_from(rec.stems.len()).unwrap_or(u32::MAX),
        version: rec.version.map(|v| {
            let (count, latest) = place.unwrap_or((v.number, true));
            VersionOfView {
                family: v.family.to_string(),
                number: v.number,
                count,
                latest,
            }
        }),
        folder: rec.folder.clone(),
    }
}

pub(super) fn track_id(raw: &str) -> Result<TrackId, ApiError> {
    TrackId::parse(raw).ok_or_else(|| ApiError::not_found("track"))
}

pub(super) fn routes(state: &AppState) -> Vec<BoxedFilter<(Response,)>> {
    let list = warp::path!("api" / "tracks")
        .and(warp::get())
        .and(auth(state))
        .and(warp::query::<ListQuery>())
        .and(with_state(state))
        .then(|auth, q, state| async move { respond(list(auth, q, state).await) });
    let get = warp::path!("api" / "tracks" / String)
        .and(warp::get())
        .and(owner_state(state))
        .then(
            |id: String, auth: Authenticated, state: AppState| async move {
                let result = async {
                    let id = track_id(&id)?;
                    let vault = state.vault.clone();
                    let (rec, place) = blocking(move || {
                        let library = vault.library(&auth.scope);
                        let rec = library.get(id)?;
                        let place = library.version_places(std::slice::from_ref(&rec))?;
                        Ok((rec, place.into_iter().next().flatten()))
                    })
                    .await
                    .map_err(ApiError::not_found_as("track"))?;
                    Ok(warp::reply::json(&view_placed(&rec, place)).into_response())
                };
                respond(result.await)
            },
        );
    let rename = warp::path!("api" / "tracks" / String)
        .and(warp::patch())
        .and(auth(state))
        .and(json_body::<RenameTrack>())
        .and(client())
        .and(with_state(state))
        .then(|id: String, auth: Authenticated, req: RenameTrack, client, state: AppState| async move {
            let result = async {
                let id = track_id(&id)?;
                let vault = state.vault.clone();
                let rec = blocking(move || vault.library(&auth.scope).rename(id, &req.name, &client)).await.map_err(ApiError::not_found_as("track"))?;
                Ok(warp::reply::json(&view(&rec)).into_response())
            };
            respond(result.await)
        });
    let delete = warp::path!("api" / "tracks" / String)
        .and(warp::delete())
        .and(owner_call(state))
        .then(
            |id: String, auth: Authenticated, client, state: AppState| async move {
                let result = async {
                    let id = track_id(&id)?;
                    let vault = state.vault.clone();
                    blocking(move || vault.library(&auth.scope).delete(id, &client))
                        .await
                        .map_err(ApiError::not_found_as("track"))?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                };
                respond(result.await)
            },
        );
    // HEAD answers what GET would, headers only: no audio is read, so nothing is audited.
    let audio = warp::path!("api" / "tracks" / String / "audio")
        .and(warp::get().or(warp::head()).unify())
        .and(warp::method())
        .and(auth(state))
        .and(warp::header::optional::<String>("range"))
        .and(warp::header::optional::<String>("if-range"))
        .and(warp::header::optional::<String>("if-none-match"))
        .and(warp::query::<AudioQuery>())
        .and(client())
        .and(with_state(state))
        .then(
            |id: String,
             method: Method,
             auth: Authenticated,
             range: Option<String>,
             if_range: Option<String>,
             if_none_match: Option<String>,
             q: AudioQuery,
             client,
             state: AppState| async move {
                let result = async {
                    let id = track_id(&id)?;
                    let vault = state.vault.clone();
                    let scope = auth.scope.clone();
                    let rec = blocking(move || vault.library(&scope).get(id))
                        .await
                        .map_err(ApiError::not_found_as("track"))?;
                    let etag = format!("\"{}\"", rec.sha256);
                    if if_none_match
                        .as_deref()
                        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
                    {
                        let mut res = StatusCode::NOT_MODIFIED.into_response();
                        set(&mut res, header::ETAG, &etag);
                        return Ok(res);
                    }
                    let len = rec.size_bytes;
                    let (start, count, detail) =
                        match resolve(range.as_deref(), if_range.as_deref(), &etag, len) {
                            ByteRange::Unsatisfiable => {
                                let mut res = ApiError::new(
                                    StatusCode::RANGE_NOT_SATISFIABLE,
                                    "range_not_satisfiable",
                                    format!("the track has {len} bytes"),
                                )
                                .into_response();
                                set(&mut res, header::CONTENT_RANGE, &format!("bytes */{len}"));
                                return Ok(res);
                            }
                            ByteRange::Full => {
                                (0, len, format!("bytes 0-{}/{len}", len.saturating_sub(1)))
                            }
                            ByteRange::Partial { start, end } => {
                                (start, end - start + 1, format!("bytes {start}-{end}/{len}"))
                            }
                        };
                    let mut res = if method == Method::HEAD {
                        StatusCode::OK.into_response()
                    } else {
                        let vault = state.vault.clone();
                        let detail_for_audit = detail.clone();
                        let (_, reader) = blocking(move || {
                            vault
                                .library(&auth.scope)
                                .open_audio(id, &detail_for_audit, &client)
                        })
                        .await
                        .map_err(ApiError::not_found_as("track"))?;
                        warp::reply::stream(stream_blob(reader, start, count)).into_response()
                    };
                    let partial = count != len;
                    if partial {
                        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
                        set(&mut res, header::CONTENT_RANGE, &detail);
                    }
                    set(&mut res, header::CONTENT_LENGTH, &count.to_string());
                    set(&mut res, header::CONTENT_TYPE, &rec.info.mime_type);
                    set(&mut res, header::ACCEPT_RANGES, "bytes");
                    set(&mut res, header::ETAG, &etag);
                    let disposition = if q.download.is_some() {
                        "attachment"
                    } else {
                        "inline"
                    };
                    set(
                        &mut res,
                        header::CONTENT_DISPOSITION,
                        &content_disposition(disposition, &rec.info.original_filename),
                    );
                    Ok(res)
                };
                respond(result.await)
            },
        );
    let peaks = warp::path!("api" / "tracks" / String / "peaks")
        .and(warp::get())
        .and(auth(state))
        .and(warp::query::<PeaksQuery>())
        .and(with_state(state))
        .then(|id: String, auth, q, state| async move { respond(peaks(id, auth, q, state).await) });
    let melody = warp::path!("api" / "tracks" / String / "melody.mid")
        .and(warp::get())
        .and(auth(state))
        .and(warp::query::<MelodyQuery>())
        .and(client())
        .and(with_state(state))
        .then(|id: String, auth, q, client, state| async move {
            respond(melody(id, auth, q, client, state).await)
        });
    vec![
        peaks.boxed(),
        melody.boxed(),
        list.boxed(),
        get.boxed(),
        rename.boxed(),
        delete.boxed(),
        audio.boxed(),
    ]
}

/// The waveform for the scrubber, in audiowaveform's JSON or `.dat` (version 2).
async fn peaks(
    id: String,
    auth: Authenticated,
    q: PeaksQuery,
    state: AppState,
) -> Result<Response, ApiError> {
    let id = track_id(&id)?;
    let vault = state.vault.clone();
    let bytes = blocking(move || vault.library(&auth.scope).peaks(id))
        .await
        .map_err(ApiError::not_found_as(
            "waveform (the track is not analysed yet)",
        ))?;
    peaks_response(&bytes, &q)
}

/// The melody or bass line as a Standard MIDI File, transcribed on request by a child process
/// (`transcribe.rs`: a few at a time, killed if the client goes away). Only for analysed
/// tracks: the MIDI file takes the analysed tempo. A track with separated stems is transcribed
/// from the stem that carries the line when there is one (see [`line_source`]); the
/// `x-transcribed-from` header says which recording was read (`track` or `stem:vocals`,
/// `stem:bass`).
async fn melody(
    id: String,
    auth: Authenticated,
    q: MelodyQuery,
    client: ClientInfo,
    state: AppState,
) -> Result<Response, ApiError> {
    let id = track_id(&id)?;
    let range = match q.range.as_deref().unwrap_or("melody") {
        "melody" => MelodyRange::Melody,
        "bass" => MelodyRange::Bass,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown range `{other}` (expected melody or bass)"
            )));
        }
    };
    let vault = state.vault.clone();
    let scope = auth.scope.clone();
    let (rec, source) = blocking(move || {
        let library = vault.library(&scope);
        let rec = library.get(id)?;
        let stems = rec
            .stems
            .iter()
            .filter_map(|&s| library.get(s).ok())
            .collect::<Vec<_>>();
        let source = line_source(&rec, &stems, range);
        Ok((rec, source))
    })
    .await
    .map_err(ApiError::not_found_as("track"))?;
    let bpm = match &rec.analysis {
        AnalysisState::Done(r) => r.tempo_bpm,
        AnalysisState::Pending => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "analysis_pending",
                "the track is still being analysed; try again shortly",
            ));
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_analysed",
                "only analysed tracks can be transcribed",
            ));
        }
    };
    let (read, from, detail) = match source {
        Some((stem, name)) => (
            stem,
            format!("stem:{name}"),
            format!("melody to MIDI of track/{id}, from its {name} stem"),
        ),
        None => (id, "track".to_owned(), "melody to MIDI".to_owned()),
    };
    let transcriber = state.transcriber.clone();
    let turn = transcriber.turn().await?;
    let vault = state.vault.clone();
    let access = blocking(move || {
        vault
            .library(&auth.scope)
            .audio_access_for(read, AudioUse::Transcription, &detail, &client)
            .map(|(_, access)| access)
    })
    .await
    .map_err(ApiError::not_found_as("track"))?;
    let midi = transcriber.transcribe(&turn, &access, range, bpm).await?;
    let mut res = Response::new(midi.into());
    set(&mut res, header::CONTENT_TYPE, "audio/midi");
    set(
        &mut res,
        header::HeaderName::from_static("x-transcribed-from"),
        &from,
    );
    set(
        &mut res,
        header::CONTENT_DISPOSITION,
        &content_disposition(
            "attachment",
            &format!(
                "{} ({}).mid",
                rec.info.name,
                if range == MelodyRange::Bass {
                    "bass"
                } else {
                    "melody"
                }
            ),
        ),
    );
    Ok(res)
}

/// The stem to transcribe a line from, if the track has one that carries it: the vocals for
/// the melody, the bass stem for the bass line. A stem counts once analysed and only if it is
/// loud enough to be a part rather than the separator's leakage: an instrumental separates
/// into a vocals stem 8–50 LU under the song (the lead synth of one song sat 2.5 LU under it),
/// a sung song into one a few LU under it. Measured on `bench/melody`'s songs: the melody of
/// an instrumental read from its leakage vocals stem scores near 0, from the mix 0.3–0.45; the
/// drums-and-bass-free "other" stem is no better than the mix there, so it is not used.
fn line_source(
    track: &TrackRecord,
    stems: &[TrackRecord],
    range: MelodyRange,
) -> Option<(TrackId, &'static str)> {
    // (stem, how many LU under the track it may be)
    let (name, margin) = match range {
        MelodyRange::Melody => ("vocals", 6.0),
        MelodyRange::Bass => ("bass", 20.0),
    };
    let loudness = |rec: &TrackRecord| match &rec.analysis {
        AnalysisState::Done(r) => r.integrated_lufs,
        _ => None,
    };
    let floor = loudness(track)? - margin;
    stems
        .iter()
        .filter(|s| s.stem.as_ref().is_some_and(|of| of.name == name))
        .find(|s| loudness(s).is_some_and(|l| l >= floor))
        .map(|s| (s.id, name))
}

async fn list(auth: Authenticated, q: ListQuery, state: AppState) -> Result<Response, ApiError> {
    let sort: TrackSort = q
        .sort
        .as_deref()
        .unwrap_or("created")
        .parse()
        .map_err(ApiError::bad_request)?;
    let descending = match q.order.as_deref().unwrap_or("desc") {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown order `{other}` (expected asc or desc)"
            )));
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    let tempo = match (q.tempo_min, q.tempo_max) {
        (None, None) => None,
        (lo, hi) => Some((lo.unwrap_or(0.0), hi.unwrap_or(f64::MAX))),
    };
    if tempo.is_some_and(|(lo, hi)| !(lo.is_finite() && lo <= hi)) {
        return Err(ApiError::bad_request(
            "tempo_min must be a number no greater than tempo_max",
        ));
    }
    let duration = match (q.duration_min, q.duration_max) {
        (None, None) => None,
        (lo, hi) => Some((lo.unwrap_or(0.0), hi.unwrap_or(f64::MAX))),
    };
    if duration.is_some_and(|(lo, hi)| !(lo.is_finite() && lo >= 0.0 && lo <= hi)) {
        return Err(ApiError::bad_request(
            "duration_min must be a number of seconds no greater than duration_max",
        ));
    }
    let added = match (q.added_after, q.added_before) {
        (None, None) => None,
        (lo, hi) => Some((lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX))),
    };
    if added.is_some_and(|(lo, hi)| lo > hi) {
        return Err(ApiError::bad_request(
            "added_after must not be later than added_before",
        ));
    }
    let include_stems = match q.stems.as_deref() {
        None | Some("exclude") => false,
        Some("include") => true,
        Some(_) => return Err(ApiError::bad_request("stems is `include` or `exclude`")),
    };
    let all_versions = match q.versions.as_deref() {
        None | Some("latest") => false,
        Some("all") => true,
        Some(_) => return Err(ApiError::bad_request("versions is `all` or `latest`")),
    };
    let query = TrackQuery {
        sort,
        descending,
        include_stems,
        all_versions,
        folder: q.folder.filter(|f| !f.trim().is_empty()),
        search: q.q.filter(|s| !s.trim().is_empty()),
        tempo,
        key: q.key.filter(|k| !k.trim().is_empty()),
        duration,
        added,
        offset,
        limit,
    };
    let vault = state.vault.clone();
    let (items, total, places) = blocking(move || {
        let library = vault.library(&auth.scope);
        let (items, total) = library.list(&query)?;
        let places = library.version_places(&items)?;
        Ok((items, total, places))
    })
    .await?;
    let next = offset + items.len() as u64;
    let page = TrackPage {
        items: items
            .iter()
            .zip(places)
            .map(|(rec, place)| view_placed(rec, place))
            .collect(),
        total,
        next_offset: (next < total).then_some(next),
    };
    Ok(warp::reply::json(&page).into_response())
}
