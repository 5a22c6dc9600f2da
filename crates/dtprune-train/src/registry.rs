//! Models by name: the built-in ones and any registered at run time (a library user's own
//! `#[derive(Module)]` type, [`register_model`]).

use crate::model::Model;
use crate::model_params::ModelParams;
use crate::models::{GruClassifier, Lenet300, Lenet5, LstmClassifier, Resnet18, Resnet20, Resnet56, TabularMlp, TransformerClassifier};
use crate::runner::{ModelRunner, Runner};
use crate::TrainError;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// A registry entry: the name users type, a short description, and the model's entry points.
#[derive(Clone, Copy)]
pub struct ModelEntry {
    pub name: &'static str,
    pub summary: &'static str,
    pub runner: &'static dyn ModelRunner,
}

static LENET300: Runner<Lenet300> = Runner::new();
static LENET5: Runner<Lenet5> = Runner::new();
static RESNET20: Runner<Resnet20> = Runner::new();
static RESNET56: Runner<Resnet56> = Runner::new();
static RESNET18: Runner<Resnet18> = Runner::new();
static LSTM: Runner<LstmClassifier> = Runner::new();
static GRU: Runner<GruClassifier> = Runner::new();
static TABULAR_MLP: Runner<TabularMlp> = Runner::new();
static TRANSFORMER: Runner<TransformerClassifier> = Runner::new();

fn built_in() -> [ModelEntry; 9] {
    [
        ModelEntry {
            name: "lenet300",
            summary: "LeNet-300-100: fc 784-300-100-10 with ReLU (LeCun et al. 1998)",
            runner: &LENET300,
        },
        ModelEntry {
            name: "lenet5",
            summary: "LeNet-5, Caffe variant: conv5x5x20, pool, conv5x5x50, pool, fc 800-500 ReLU, fc 500-10",
            runner: &LENET5,
        },
        ModelEntry {
            name: "resnet20",
            summary: "ResNet-20 for CIFAR (He et al. 2016): 3x3 stem, 3 stages of 3 basic blocks, 16/32/64 channels, BatchNorm, option-B shortcuts",
            runner: &RESNET20,
        },
        ModelEntry {
            name: "resnet56",
            summary: "ResNet-56 for CIFAR (He et al. 2016): 3 stages of 9 basic blocks, 16/32/64 channels, BatchNorm, option-B shortcuts",
            runner: &RESNET56,
        },
        ModelEntry {
            name: "resnet18",
            summary: "ResNet-18, CIFAR form: 3x3 stem, no max-pool, 4 stages of 2 basic blocks, 64/128/256/512 channels, option-B shortcuts",
            runner: &RESNET18,
        },
        ModelEntry {
            name: "lstm",
            summary: "stacked LSTM over feature frames, linear classifier on each sequence's last valid frame",
            runner: &LSTM,
        },
        ModelEntry {
            name: "gru",
            summary: "stacked GRU over feature frames, linear classifier on each sequence's last valid frame",
            runner: &GRU,
        },
        ModelEntry {
            name: "tabular-mlp",
            summary: "an embedding table per categorical column, concatenated with the numeric columns, then a ReLU MLP",
            runner: &TABULAR_MLP,
        },
        ModelEntry {
            name: "transformer",
            summary: "pre-norm Transformer encoder over token ids: learned positions, self-attention + GELU FFN blocks, mean pooling over real tokens, linear classifier",
            runner: &TRANSFORMER,
        },
    ]
}

static REGISTERED: RwLock<Vec<ModelEntry>> = RwLock::new(Vec::new());

/// Every model: the built-in ones, then those registered, in order.
pub fn models() -> Vec<ModelEntry> {
    let registered = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    built_in().into_iter().chain(registered.iter().copied()).collect()
}

/// Makes `M` trainable by name (`model = "NAME"` in a config, `--model NAME`). Registering a
/// name again replaces the earlier registration; built-in names cannot be taken.
pub fn register_model<M: Model>(name: &'static str, summary: &'static str) -> Result<(), TrainError> {
    if built_in().iter().any(|b| b.name == name) {
        return Err(TrainError::Config { path: None, message: format!("model `{name}` is built in and cannot be replaced") });
    }
    // A zero-sized value: leaking it costs nothing.
    let runner: &'static Runner<M> = Box::leak(Box::new(Runner::<M>::new()));
    let mut registered = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    registered.retain(|r| r.name != name);
    registered.push(ModelEntry { name, summary, runner });
    Ok(())
}

/// The entry for `name`; an unknown name is an error listing the valid ones.
pub fn model(name: &str) -> Result<ModelEntry, TrainError> {
    let all = models();
    all.iter().find(|m| m.name == name).copied().ok_or_else(|| TrainError::Config {
        path: None,
        message: format!("unknown model `{name}`; valid: {}", all.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")),
    })
}

/// `M`'s parameters with every default (what an empty `[model]` table gives).
pub fn default_params<M: Model>() -> ModelParams {
    ModelParams::resolve(std::any::type_name::<M>(), M::params(), &BTreeMap::new()).expect("defaults are valid")
}
