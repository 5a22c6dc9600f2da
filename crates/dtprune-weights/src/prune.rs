//! `prune-weights`: one checkpoint in, one pruned checkpoint (and a report) out.
//!
//! Steps: map and validate the input; refuse an output that is the input; resolve the policy
//! and the selection; open the outputs (temporary files, so an unwritable folder fails before
//! any work); compute each selected tensor's τ in streaming passes; stream the pruned file;
//! commit the outputs.

use crate::error::WeightsError;
use crate::mapped::MappedCheckpoint;
use crate::report::{PruneReport, Request, TensorReport};
use crate::select::select;
use crate::stream::MappedTensor;
use crate::write::write_pruned;
use dtprune_fs::AtomicFile;
use dtprune_prune::checkpoint::{CheckpointPolicy, CheckpointThreshold, TensorStream};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct PruneWeightsOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub policy: String,
    /// Raw policy parameters (`-P key=value`), validated by the policy.
    pub params: BTreeMap<String, toml::Value>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Also write the report as JSON here.
    pub report: Option<PathBuf>,
}

pub fn prune_weights(o: &PruneWeightsOptions) -> Result<PruneReport, WeightsError> {
    let file = MappedCheckpoint::open(&o.input)?;
    refuse_input(&o.input, &o.output, "pruned checkpoint")?;
    if let Some(r) = &o.report {
        refuse_input(&o.input, r, "report")?;
        if r == &o.output {
            return Err(WeightsError::SameFile { path: r.clone(), what: "report (it is also the --out path)" });
        }
    }
    let policy_error = |source| WeightsError::Policy { path: o.input.clone(), source: Box::new(source) };
    let policy = CheckpointPolicy::build(&o.policy, &o.params).map_err(policy_error)?;
    let selected = select(&o.input, file.entries(), &o.include, &o.exclude)?;

    let create = |p: &Path| AtomicFile::create(p).map_err(|source| WeightsError::Write { path: p.to_path_buf(), source });
    let mut out = create(&o.output)?;
    let mut report_out = o.report.as_deref().map(create).transpose()?;

    let thresholds = thresholds(&file, &selected, &policy).map_err(policy_error)?;
    let taus: Vec<Option<f32>> = thresholds.iter().map(|t| t.as_ref().map(|t| t.tau)).collect();
    let write_error = |source| WeightsError::Write { path: o.output.clone(), source };
    let zeros = write_pruned(&file, &taus, &mut out).map_err(write_error)?;

    let request = Request {
        input: o.input.clone(),
        output: o.output.clone(),
        policy: policy.name().into(),
        params: policy.params().clone(),
        include: o.include.clone(),
        exclude: o.exclude.clone(),
    };
    let report = PruneReport::new(request, tensor_reports(&file, thresholds, &zeros));
    if let Some(r) = report_out.as_mut() {
        let json = serde_json::to_vec_pretty(&report).expect("the report serialises");
        r.write_all(&json).and_then(|_| r.write_all(b"\n")).map_err(|source| WeightsError::Write { path: r.path().into(), source })?;
    }
    out.commit().map_err(write_error)?;
    if let Some(r) = report_out {
        let path = r.path().to_path_buf();
        r.commit().map_err(|source| WeightsError::Write { path, source })?;
    }
    Ok(report)
}

/// Writing over the input while it is mapped would corrupt both.
fn refuse_input(input: &Path, path: &Path, what: &'static str) -> Result<(), WeightsError> {
    if same_file::is_same_file(input, path).unwrap_or(false) {
        return Err(WeightsError::SameFile { path: path.into(), what });
    }
    Ok(())
}

/// τ for each selected tensor, `None` for the others.
fn thresholds(
    file: &MappedCheckpoint,
    selected: &[bool],
    policy: &CheckpointPolicy,
) -> Result<Vec<Option<CheckpointThreshold>>, dtprune_prune::PruneError> {
    let streams: Vec<MappedTensor> = file
        .entries()
        .iter()
        .zip(selected)
        .filter(|(_, &s)| s)
        .map(|(e, _)| MappedTensor::new(file, e).expect("selection keeps float tensors only"))
        .collect();
    let views: Vec<&dyn TensorStream> = streams.iter().map(|s| s as &dyn TensorStream).collect();
    let mut computed = policy.thresholds(&views)?.into_iter();
    Ok(selected.iter().map(|&s| if s { computed.next() } else { None }).collect())
}

fn tensor_reports(file: &MappedCheckpoint, thresholds: Vec<Option<CheckpointThreshold>>, zeros_after: &[Option<usize>]) -> Vec<TensorReport> {
    file.entries()
        .iter()
        .zip(thresholds)
        .zip(zeros_after)
        .map(|((e, t), zeros)| {
            let numel = e.numel();
            let fraction = |z: usize| if numel == 0 { 0.0 } else { z as f64 / numel as f64 };
            let after = zeros.map(fraction);
            TensorReport {
                name: e.name.clone(),
                dtype: format!("{:?}", e.dtype),
                shape: e.shape.clone(),
                numel,
                selected: t.is_some(),
                threshold: t.as_ref().map(|t| t.tau),
                // A copied tensor is unchanged: its zeros before are its zeros after.
                sparsity_before: t.as_ref().map(|t| t.before.sparsity()).or(after),
                reason: t.map(|t| t.reason),
                sparsity_after: after,
            }
        })
        .collect()
}
