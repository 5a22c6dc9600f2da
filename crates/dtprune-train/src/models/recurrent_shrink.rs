//! A recurrent classifier (`lstm`, `gru`) with hidden units of its groups
//! ([`super::recurrent_groups`]) physically removed: a narrower LSTM/GRU of the same type.

use super::recurrent::RecurrentClassifier;
use crate::TrainError;

/// `model` without the hidden units `removed[l]` of each layer `l` (one list per layer, in
/// [`super::recurrent_groups::groups`] order).
pub fn remove_units<M: RecurrentClassifier>(model: M, removed: &[Vec<usize>]) -> Result<M, TrainError> {
    let groups = super::recurrent_groups::groups(&model);
    if removed.len() != groups.len() {
        return Err(TrainError::Config { path: None, message: format!("recurrent model: {} lists of removed units for its {} layers", removed.len(), groups.len()) });
    }
    if let Some((g, _)) = groups.iter().zip(removed).find(|(g, r)| r.len() >= g.units && !r.is_empty()) {
        return Err(TrainError::Config { path: None, message: format!("removing units of group `{}`: every one of its {} units would go", g.name, g.units) });
    }
    Ok(crate::unit_removal::remove_units(model, &groups, removed)?.refit_hidden())
}

/// Per layer, the hidden units whose every producer and follower slice is exactly zero (rows of
/// every gate's transforms, both biases): what the masks leave of a unit the structure policy
/// removed. Such a unit's state stays 0 (see [`super::recurrent_groups`]), so cutting it out
/// gives the same outputs. Its consumer columns need not be zero.
pub fn dead_units<M: RecurrentClassifier>(model: &M) -> Vec<Vec<usize>> {
    crate::unit_removal::dead_units(model, &super::recurrent_groups::groups(model))
}

/// The compact form of a masked model: every dead unit ([`dead_units`]) physically removed
/// (never a layer's last unit). Returns it with the units removed per layer.
pub fn compact<M: RecurrentClassifier>(model: M) -> Result<(M, Vec<Vec<usize>>), TrainError> {
    let mut dead = dead_units(&model);
    for (units, width) in dead.iter_mut().zip(model.hidden_sizes()) {
        if units.len() == width {
            units.pop();
        }
    }
    Ok((remove_units(model, &dead)?, dead))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit_removal::test_support::zero_unit;
    use crate::input::speech::{frame_statistics, SequenceBatch, SequenceInfo, SpeechData};
    use crate::input::InputKind;
    use crate::model::Model;
    use crate::models::{GruClassifier, LstmClassifier};
    use crate::params::list_params;
    use burn::prelude::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// The real FSDD recordings kept as fixtures (`dtprune-data/tests/fixtures/fsdd`, CC BY-SA
    /// 4.0, Zohar Jackson et al.): 40 log-mel bands every 20 ms, 50 frames; all 9 of them, the
    /// official train and test recordings together, standardised with the train split's
    /// statistics.
    fn recordings() -> (SpeechData, SequenceInfo) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dtprune-data/tests/fixtures/fsdd");
        let options: BTreeMap<String, toml::Value> = [("hop", 160), ("frames", 50)].into_iter().map(|(k, v)| (k.to_string(), toml::Value::Integer(v))).collect();
        let splits = dtprune_data::speech::load_fsdd(&dir, &options, None).unwrap();
        let (mean, std) = frame_statistics(&splits.train);
        let mut all = splits.train.clone();
        let test = &splits.test;
        for i in 0..test.len() {
            let valid = test.lengths()[i] as usize * test.n_mels();
            all.push(&test.item(i)[..valid], test.labels()[i], test.sources()[i].clone(), splits.pad_value);
        }
        let data = SpeechData::new(&all, all.len(), (&mean, &std));
        (data, SequenceInfo { frames: 50, features: 40, classes: 10 })
    }

    fn batch(data: &SpeechData, device: &Device) -> SequenceBatch {
        data.batch(&(0..data.len()).collect::<Vec<_>>(), device).0
    }

    fn model<M: Model<Input = SpeechData>>(name: &str, info: SequenceInfo, device: &Device) -> M {
        let given: BTreeMap<String, toml::Value> = [("hidden", 6), ("layers", 2)].into_iter().map(|(k, v)| (k.to_string(), toml::Value::Integer(v))).collect();
        M::init(info, &crate::model_params::resolve_model_params(name, M::params(), &given).unwrap(), device)
    }

    fn logits<M: Model<Input = SpeechData>>(m: &M, batch: SequenceBatch) -> Vec<f32> {
        m.forward(batch).into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    fn assert_close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "largest difference {worst}: {a:?} vs {b:?}");
    }

    /// Units removed from either layer leave a narrower model that runs on real recordings
    /// and gives `[recordings, 10]` logits; the state size follows the weights.
    fn removal_keeps_the_model_runnable<M: RecurrentClassifier>(name: &str) {
        let device = Device::flex();
        let (data, info) = recordings();
        let base: M = model(name, info, &device);
        let small = remove_units(base.clone(), &[vec![0, 4], vec![5]]).unwrap();
        assert_eq!(small.hidden_sizes(), [4, 5]);
        assert_eq!(small.forward(batch(&data, &device)).dims(), [data.len(), 10]);
        let params = list_params(&small);
        let shape = |n: &str| params.iter().find(|p| p.name == n).unwrap().torch_shape();
        let gate = small.gates()[0];
        assert_eq!(shape(&format!("rnn.0.{gate}.input_transform.weight")), [4, 40]);
        assert_eq!(shape(&format!("rnn.0.{gate}.hidden_transform.weight")), [4, 4]);
        assert_eq!(shape(&format!("rnn.1.{gate}.input_transform.weight")), [5, 4]);
        assert_eq!(shape("fc.weight"), [10, 5]);
        let e = remove_units(base.clone(), &[vec![6], vec![]]).unwrap_err().to_string();
        assert!(e.contains("group `rnn.0.hidden`: unit 6 out of range (the group has 6)"), "{e}");
        let e = remove_units(base.clone(), &[vec![]]).unwrap_err().to_string();
        assert!(e.contains("1 lists of removed units for its 2 layers"), "{e}");
        let e = remove_units(base, &[vec![], (0..6).collect()]).unwrap_err().to_string();
        assert!(e.contains("group `rnn.1.hidden`: every one of its 6 units would go"), "{e}");
    }

    #[test]
    fn a_removed_lstm_unit_keeps_the_model_runnable() {
        removal_keeps_the_model_runnable::<LstmClassifier>("lstm");
    }

    #[test]
    fn a_removed_gru_unit_keeps_the_model_runnable() {
        removal_keeps_the_model_runnable::<GruClassifier>("gru");
    }

    /// A hidden unit whose every slice is zero (as the masks leave it) changes the model, and
    /// cutting it out gives the masked model's logits on real recordings; the compact form
    /// finds exactly that unit dead. For a unit of the lower layer (read by the upper one) and
    /// of the upper layer (read by the classifier).
    fn dead_unit_removed_gives_the_same_outputs<M: RecurrentClassifier>(name: &str) {
        let device = Device::flex();
        let (data, info) = recordings();
        let base: M = model(name, info, &device);
        let groups = super::super::recurrent_groups::groups(&base);
        for (g, unit) in [(0, 2), (1, 0), (1, 5)] {
            let dead = zero_unit(base.clone(), &groups[g], unit);
            let before = logits(&dead, batch(&data, &device));
            assert_ne!(before, logits(&base, batch(&data, &device)), "zeroing {} unit {unit} changes the model", groups[g].name);
            let removed: Vec<Vec<usize>> = (0..2).map(|i| if i == g { vec![unit] } else { vec![] }).collect();
            assert_eq!(dead_units(&dead), removed);
            let (compact, found) = compact(dead).unwrap();
            assert_eq!(found, removed);
            assert_eq!(compact.hidden_sizes().iter().sum::<usize>(), 11);
            assert_close(&logits(&compact, batch(&data, &device)), &before);
        }
    }

    #[test]
    fn a_dead_lstm_unit_removed_gives_the_same_outputs() {
        dead_unit_removed_gives_the_same_outputs::<LstmClassifier>("lstm");
    }

    #[test]
    fn a_dead_gru_unit_removed_gives_the_same_outputs() {
        dead_unit_removed_gives_the_same_outputs::<GruClassifier>("gru");
    }

    /// dtprune-compact's native recurrent kernels (what `dtprune compact` deploys) read the
    /// files the trainer writes and give Burn's logits on real recordings, for the masked
    /// model run densely and for the compact one (a dead unit cut out, every matrix CSR, one
    /// sequence at a time and all at once).
    fn native_kernels_give_burns_logits<M: RecurrentClassifier>(name: &str) {
        use dtprune_compact::recurrent::{compact as native_compact, RecurrentModel};
        use dtprune_compact::{CompactOptions, Crossover};
        let device = Device::flex();
        let (data, info) = recordings();
        let base: M = model(name, info, &device);
        let groups = super::super::recurrent_groups::groups(&base);
        let dead = zero_unit(base, &groups[1], 3);
        let want = logits(&dead, batch(&data, &device));
        let dir = tempfile::tempdir().unwrap();
        crate::model_graph::check_and_write(dead.graph(info), &dead, None, &dir.path().join("graph.json")).unwrap();
        crate::export::save_safetensors(&dir.path().join("model.safetensors"), &crate::export::module_tensors(&dead), &[]).unwrap();
        let masked = RecurrentModel::load_run(dir.path()).unwrap();
        let n = data.len();
        assert_close(&masked.dense_network().forward(data.features(), data.lengths(), n).unwrap(), &want);
        let c = native_compact(&masked, &CompactOptions { crossover: Crossover::Fixed(1.01), remove_structure: true }).unwrap();
        assert_eq!(c.report.units.iter().map(|u| u.units_after).collect::<Vec<_>>(), [6, 5]);
        assert_close(&c.network.forward(data.features(), data.lengths(), n).unwrap(), &want);
        let per = info.frames * info.features;
        for i in 0..n {
            let one = c.network.forward(&data.features()[i * per..(i + 1) * per], &data.lengths()[i..i + 1], 1).unwrap();
            assert_close(&one, &want[i * 10..(i + 1) * 10]);
        }
    }

    #[test]
    fn native_lstm_kernels_give_burns_logits() {
        native_kernels_give_burns_logits::<LstmClassifier>("lstm");
    }

    #[test]
    fn native_gru_kernels_give_burns_logits() {
        native_kernels_give_burns_logits::<GruClassifier>("gru");
    }

    /// Consumer columns alone zero (a weight policy emptied what reads a unit) is not a dead
    /// unit: the unit still computes, and its biases keep it alive.
    #[test]
    fn a_unit_with_live_rows_or_biases_is_not_dead() {
        let device = Device::flex();
        let (_, info) = recordings();
        let base: LstmClassifier = model("lstm", info, &device);
        let groups = super::super::recurrent_groups::groups(&base);
        let mut readers = groups[0].clone();
        readers.members.retain(|m| m.role == dtprune_prune::MemberRole::Consumer);
        let mut rows = groups[0].clone();
        rows.members.retain(|m| m.role == dtprune_prune::MemberRole::Producer);
        let m = zero_unit(zero_unit(base, &readers, 1), &rows, 1);
        // Every weight row of unit 1 is zero, but Burn initialises biases non-zero.
        assert_eq!(dead_units(&m), [Vec::<usize>::new(), vec![]]);
    }
}
