//! The language models a user can answer with: where the default lives, the
//! GGUF files found in the model folders, and the one loaded for answering
//! (kept loaded between answers, replaced when the setting changes).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::llm::{self, Generator, LocalGenerator, ModelInfo};
use crate::settings::Settings;
use crate::{paths, Engine, Error, Result};

/// The model loaded for answering, with the file it came from.
pub(crate) struct LoadedGenerator {
    pub(crate) path: PathBuf,
    pub(crate) generator: Box<dyn Generator>,
}

impl Engine {
    /// The model answers use: the configured one, else the default SmolLM2.
    pub fn model_path(&self, settings: &Settings) -> PathBuf {
        settings
            .model
            .clone()
            .unwrap_or_else(|| self.config.models_dir.join(paths::DEFAULT_LLM))
    }

    /// GGUF models in the models folder, `<data dir>/models` and the configured folders.
    pub fn models(&self) -> Vec<std::result::Result<ModelInfo, (PathBuf, crate::ErrorReport)>> {
        let settings = self.settings();
        let mut dirs = vec![
            self.config.models_dir.clone(),
            self.config.data_dir.join("models"),
        ];
        dirs.extend(settings.model_dirs.iter().cloned());
        let mut files: Vec<PathBuf> = dirs
            .iter()
            .flat_map(|d| llm::gguf::find_models(d))
            .collect();
        if let Some(m) = settings.model.as_ref().filter(|m| m.is_file()) {
            files.push(m.clone());
        }
        let mut seen = std::collections::HashSet::new();
        files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
        files
            .into_iter()
            .map(|f| ModelInfo::read(&f).map_err(|e| (f, e.to_report())))
            .collect()
    }

    /// Loads the chosen language model now (it is otherwise loaded by the
    /// first question), so the first answer does not wait for it.
    pub async fn load_model(&self) -> Result<()> {
        let model_path = self.model_path(&self.settings());
        let generator = self.generator.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut slot = generator
                .lock()
                .map_err(|_| Error::Bug("the model lock is poisoned".into()))?;
            load_generator(&mut slot, &model_path).map(|_| ())
        })
        .await
        .map_err(|e| Error::Bug(e.to_string()))?
    }

    /// How many times a model has been asked to generate (the not-covered path never is).
    pub fn generation_count(&self) -> usize {
        self.generations.load(Ordering::SeqCst)
    }
}

pub(crate) fn load_generator<'a>(
    slot: &'a mut Option<LoadedGenerator>,
    path: &Path,
) -> Result<&'a mut Box<dyn Generator>> {
    let stale = slot.as_ref().is_none_or(|l| l.path != path);
    if stale {
        *slot = None;
        let gen = LocalGenerator::load(path)?;
        crate::heap::release_free();
        *slot = Some(LoadedGenerator {
            path: path.to_path_buf(),
            generator: Box::new(gen),
        });
    }
    slot.as_mut()
        .map(|l| &mut l.generator)
        .ok_or_else(|| Error::Bug("no model loaded".into()))
}
