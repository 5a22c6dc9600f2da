//! The Burn BERT encoder reproduces all-MiniLM-L6-v2 as the Python sentence-transformers
//! package runs it: the same token ids, and embeddings with cosine ≥ 0.999 on every sentence of
//! `tests/fixtures/minilm/` (`make_reference.py` there wrote `reference.safetensors` once).

use burn::prelude::*;
use dtprune_train::pretrained::{cosine, SentenceEncoder, SentenceModelFiles};
use safetensors::SafeTensors;
use std::path::{Path, PathBuf};

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/models/all-MiniLM-L6-v2")
}

/// The weights are not in the repository (90 MB): `.ci/run` fetches them and sets
/// `DTPRUNE_MINILM`; a model folder that holds them works too.
fn weights() -> Option<PathBuf> {
    // The model folder (config, tokenizer) is read from ../shared beside the repository.
    if !model_dir().join("config.json").is_file() {
        return None;
    }
    [std::env::var_os("DTPRUNE_MINILM").map(PathBuf::from), Some(model_dir().join("model.safetensors"))].into_iter().flatten().find(|p| p.is_file())
}

fn fixture() -> (Vec<String>, Vec<Vec<f32>>, Vec<Vec<u32>>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm");
    let sentences: Vec<String> = std::fs::read_to_string(dir.join("sentences.txt")).unwrap().lines().map(String::from).collect();
    let bytes = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |name: &str| st.tensor(name).unwrap().data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect::<Vec<_>>();
    let i64s = |name: &str| st.tensor(name).unwrap().data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect::<Vec<_>>();
    let embeddings = f32s("embeddings").chunks(384).map(<[f32]>::to_vec).collect();
    let (counts, flat) = (i64s("token_counts"), i64s("token_ids"));
    let mut ids = Vec::new();
    let mut at = 0;
    for c in counts {
        ids.push(flat[at..at + c as usize].iter().map(|&i| i as u32).collect());
        at += c as usize;
    }
    (sentences, embeddings, ids)
}

#[test]
fn minilm_matches_sentence_transformers() {
    let Some(weights) = weights() else {
        println!("SKIPPED minilm_matches_sentence_transformers: no all-MiniLM-L6-v2 model folder in ../shared or no model.safetensors (run shared/datasets/models/all-MiniLM-L6-v2/fetch-weights.sh DIR and set DTPRUNE_MINILM=DIR/model.safetensors)");
        return;
    };
    let (sentences, reference, reference_ids) = fixture();
    let encoder = SentenceEncoder::load(&SentenceModelFiles::new(&model_dir(), Some(&weights)), &Device::flex()).unwrap();
    for (s, want) in sentences.iter().zip(&reference_ids) {
        assert_eq!(&encoder.tokenizer().tokenize(s, encoder.max_tokens()).unwrap(), want, "token ids of {s:?}");
    }
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    // Batches of 5 mix lengths, so padding and the attention mask are exercised.
    let ours = encoder.encode(&texts, 5).unwrap();
    let worst = ours.iter().zip(&reference).zip(&sentences).map(|((a, b), s)| (cosine(a, b), s)).min_by(|x, y| x.0.total_cmp(&y.0)).unwrap();
    println!("lowest cosine to sentence-transformers: {:.6} ({:?})", worst.0, worst.1);
    assert!(worst.0 >= 0.999, "cosine {:.6} on {:?}", worst.0, worst.1);
}

#[test]
fn a_missing_tensor_is_named() {
    let Some(weights) = weights() else {
        println!("SKIPPED a_missing_tensor_is_named: no all-MiniLM-L6-v2 model.safetensors");
        return;
    };
    // A config with one layer more than the checkpoint holds.
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(model_dir().join("config.json")).unwrap().replace("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 7");
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    std::fs::copy(model_dir().join("tokenizer.json.gz"), dir.path().join("tokenizer.json.gz")).unwrap();
    let e = SentenceEncoder::load(&SentenceModelFiles::new(dir.path(), Some(&weights)), &Device::flex()).err().unwrap().to_string();
    assert!(e.contains("encoder.layer.6.") && e.contains("missing"), "{e}");
}
