//! `dtprune export --run DIR --format onnx [--compact] [-o FILE]`.

use anyhow::{bail, Result};
use dtprune_compact::onnx::{export_run, Variant};
use std::path::Path;

pub fn export(run: &Path, format: &str, compact: bool, out: Option<&Path>) -> Result<()> {
    if format != "onnx" {
        bail!("--format `{format}` is not supported; valid: onnx");
    }
    let variant = if compact { Variant::Compact } else { Variant::Dense };
    if compact && !run.join(dtprune_compact::export::COMPACT_JSON).is_file() {
        println!("{}", crate::compact(run, None)?);
    }
    let file = export_run(run, variant, out)?;
    println!(
        "wrote {} ({} model, ONNX opset {}, {} bytes{})",
        file.path.display(),
        variant.name(),
        dtprune_compact::onnx::OPSET,
        file.bytes,
        if compact { "; CSR layers written as dense initialisers of the compact shape" } else { "" }
    );
    Ok(())
}
