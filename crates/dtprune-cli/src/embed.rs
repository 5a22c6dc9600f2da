//! `dtprune embed`: sentence embeddings from a pretrained sentence-transformers model
//! (all-MiniLM-L6-v2 and its kind), and how close a pruned checkpoint's embeddings stay to the
//! dense model's — the figure that says whether `prune-weights` kept the encoder intact.

use anyhow::{bail, Context, Result};
use clap::Args;
use dtprune_train::pretrained::{cosine, SentenceEncoder, SentenceModelFiles};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
#[command(after_help = "Texts: one per line; with tabs in a line, --field picks the tab-separated column \
(0 for `text<TAB>label` as in sentiment-labelled-sentences, 1 for `label<TAB>text` as in the SMS Spam Collection); \
`.gz` files are read as they are. \
With --compare, each checkpoint's embeddings are compared with the dense model's \
(cosine similarity per text: mean, minimum, 5th percentile).")]
pub struct EmbedArgs {
    /// A sentence-transformers model folder: config.json, tokenizer.json(.gz), modules.json, …
    #[arg(long)]
    model_dir: PathBuf,
    /// The dense weights (default: MODEL_DIR/model.safetensors).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Text files to embed (repeatable).
    #[arg(long = "input", short, required = true)]
    inputs: Vec<PathBuf>,
    /// Which tab-separated column of a line holds the text.
    #[arg(long, default_value_t = 0)]
    field: usize,
    /// Use only the first N texts (0 = all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Pruned checkpoints (same architecture) to compare with the dense embeddings (repeatable).
    #[arg(long = "compare", value_name = "WEIGHTS")]
    compare: Vec<PathBuf>,
    /// Write the dense embeddings ([texts, hidden] f32) to this safetensors file.
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Write the comparison as JSON.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
}

pub fn read_texts(paths: &[PathBuf], field: usize, limit: usize) -> Result<Vec<String>> {
    let mut texts = Vec::new();
    for path in paths {
        let bytes = dtprune_data::load_error::read_maybe_gzip(path)?;
        let text = String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8 text", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let Some(t) = line.split('\t').nth(field) else {
                bail!("{}:{}: no tab-separated column {field} (--field counts from 0)", path.display(), i + 1);
            };
            if !t.trim().is_empty() {
                texts.push(t.trim().to_string());
            }
        }
    }
    if texts.is_empty() {
        bail!("no texts in {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    if limit > 0 {
        texts.truncate(limit);
    }
    Ok(texts)
}

#[derive(serde::Serialize)]
struct Comparison {
    weights: String,
    texts: usize,
    mean_cosine: f64,
    min_cosine: f64,
    p05_cosine: f64,
    seconds: f64,
}

fn compare(texts: &[&str], dense: &[Vec<f32>], files: &SentenceModelFiles, batch: usize) -> Result<Comparison> {
    let start = Instant::now();
    let encoder = SentenceEncoder::load_on_cpu(files)?;
    let ours = encoder.encode(texts, batch)?;
    let mut cos: Vec<f64> = ours.iter().zip(dense).map(|(a, b)| cosine(a, b)).collect();
    cos.sort_by(f64::total_cmp);
    Ok(Comparison {
        weights: files.weights.display().to_string(),
        texts: texts.len(),
        mean_cosine: cos.iter().sum::<f64>() / cos.len() as f64,
        min_cosine: cos[0],
        p05_cosine: cos[cos.len() / 20],
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn write_embeddings(path: &Path, embeddings: &[Vec<f32>]) -> Result<()> {
    let hidden = embeddings.first().map_or(0, Vec::len);
    let mut tensors = BTreeMap::new();
    tensors.insert("embeddings".to_string(), (vec![embeddings.len(), hidden], embeddings.concat()));
    dtprune_train::export::save_safetensors(path, &tensors, &[("producer", format!("dtprune {}", env!("CARGO_PKG_VERSION")))])?;
    Ok(())
}

pub fn run(a: EmbedArgs) -> Result<()> {
    let texts = read_texts(&a.inputs, a.field, a.limit)?;
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let files = SentenceModelFiles::new(&a.model_dir, a.weights.as_deref());
    let start = Instant::now();
    let encoder = SentenceEncoder::load_on_cpu(&files)?;
    let dense = encoder.encode(&texts, a.batch)?;
    println!("embedded {} texts with {} in {:.1} s ({} dimensions)", texts.len(), files.weights.display(), start.elapsed().as_secs_f64(), dense[0].len());
    if let Some(out) = &a.out {
        write_embeddings(out, &dense)?;
        println!("wrote {}", out.display());
    }
    let mut rows = Vec::new();
    for weights in &a.compare {
        let pruned = SentenceModelFiles::new(&a.model_dir, Some(weights));
        let c = compare(&texts, &dense, &pruned, a.batch)?;
        println!("{}: cosine to dense mean {:.4}, 5th percentile {:.4}, min {:.4} ({} texts, {:.1} s)", c.weights, c.mean_cosine, c.p05_cosine, c.min_cosine, c.texts, c.seconds);
        rows.push(c);
    }
    if let Some(report) = &a.report {
        let json = serde_json::to_vec_pretty(&rows)?;
        dtprune_fs::write_atomic(report, &json).with_context(|| format!("cannot write {}", report.display()))?;
    }
    Ok(())
}
