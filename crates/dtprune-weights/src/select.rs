//! Which tensors are pruned. Default: every F32/F16/BF16 tensor with two or more dimensions
//! (weight matrices, conv kernels, embeddings), leaving biases, LayerNorm/BatchNorm vectors and
//! integer buffers alone. `--include` globs replace that default (any dtype they name must be a
//! float one); `--exclude` globs then remove tensors. A glob that matches nothing is an error, as
//! it is almost always a typo.

use crate::error::WeightsError;
use crate::mapped::TensorEntry;
use glob::Pattern;
use std::path::Path;

/// The selection rule in words, for `--help` and the report.
pub const DEFAULT_SELECTION: &str = "every F32/F16/BF16 tensor with 2 or more dimensions";

/// One flag per tensor: pruned or copied.
pub fn select(path: &Path, entries: &[TensorEntry], include: &[String], exclude: &[String]) -> Result<Vec<bool>, WeightsError> {
    let include = compile("--include", include)?;
    let exclude = compile("--exclude", exclude)?;
    for (flag, globs) in [("--include", &include), ("--exclude", &exclude)] {
        if let Some(p) = globs.iter().find(|p| !entries.iter().any(|e| p.matches(&e.name))) {
            return Err(no_match(path, entries, flag, p));
        }
    }
    let mut chosen = Vec::with_capacity(entries.len());
    for e in entries {
        let picked = if include.is_empty() {
            e.float_kind().is_some() && e.shape.len() >= 2
        } else {
            include.iter().any(|p| p.matches(&e.name))
        };
        let picked = picked && !exclude.iter().any(|p| p.matches(&e.name));
        if picked && e.float_kind().is_none() {
            return Err(WeightsError::UnsupportedDtype { path: path.into(), name: e.name.clone(), dtype: format!("{:?}", e.dtype) });
        }
        chosen.push(picked);
    }
    if !chosen.contains(&true) {
        let why = match (include.is_empty(), exclude.is_empty()) {
            (true, true) => format!("the default selects {DEFAULT_SELECTION}, and the file has none; name tensors with --include"),
            (true, false) => format!("the default selects {DEFAULT_SELECTION}, and --exclude removes all of them"),
            (false, _) => "--exclude removes every tensor --include matched".into(),
        };
        return Err(WeightsError::NothingSelected { path: path.into(), why });
    }
    Ok(chosen)
}

fn compile(flag: &'static str, globs: &[String]) -> Result<Vec<Pattern>, WeightsError> {
    globs
        .iter()
        .map(|g| Pattern::new(g).map_err(|e| WeightsError::BadGlob { flag, glob: g.clone(), message: e.to_string() }))
        .collect()
}

fn no_match(path: &Path, entries: &[TensorEntry], flag: &'static str, p: &Pattern) -> WeightsError {
    const SHOWN: usize = 12;
    let mut names: Vec<&str> = entries.iter().take(SHOWN).map(|e| e.name.as_str()).collect();
    if entries.len() > SHOWN {
        names.push("...");
    }
    WeightsError::NoMatch { path: path.into(), flag, glob: p.as_str().into(), count: entries.len(), names: names.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::Dtype;

    fn entry(name: &str, dtype: Dtype, shape: &[usize]) -> TensorEntry {
        TensorEntry { name: name.into(), dtype, shape: shape.to_vec(), bytes: 0..0 }
    }

    fn model() -> Vec<TensorEntry> {
        vec![
            entry("embeddings.position_ids", Dtype::I64, &[1, 512]),
            entry("embeddings.word.weight", Dtype::F32, &[100, 8]),
            entry("layer.0.dense.weight", Dtype::BF16, &[8, 8]),
            entry("layer.0.dense.bias", Dtype::F32, &[8]),
            entry("layer.0.norm.weight", Dtype::F16, &[8]),
        ]
    }

    #[test]
    fn default_takes_float_matrices() {
        let s = select(Path::new("m"), &model(), &[], &[]).unwrap();
        assert_eq!(s, vec![false, true, true, false, false]);
    }

    #[test]
    fn include_replaces_exclude_removes() {
        let s = select(Path::new("m"), &model(), &["layer.*".into()], &["*.bias".into()]).unwrap();
        assert_eq!(s, vec![false, false, true, false, true]);
        let s = select(Path::new("m"), &model(), &[], &["embeddings.*".into()]).unwrap();
        assert_eq!(s, vec![false, false, true, false, false]);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = select(Path::new("m.st"), &model(), &["*position*".into()], &[]).unwrap_err();
        assert!(e.to_string().contains("tensor `embeddings.position_ids` has dtype I64"), "{e}");
        let e = select(Path::new("m.st"), &model(), &["decoder.*".into()], &[]).unwrap_err();
        assert!(e.to_string().contains("--include `decoder.*` matches no tensor (the file has 5 tensors: embeddings.position_ids,"), "{e}");
        let e = select(Path::new("m.st"), &model(), &[], &["*weight".into()]).unwrap_err();
        assert!(e.to_string().contains("no tensor is selected"), "{e}");
        let e = select(Path::new("m.st"), &model(), &["[".into()], &[]).unwrap_err();
        assert!(e.to_string().contains("--include `[` is not a valid glob"), "{e}");
    }
}
