//! Live progress: a bar per epoch with running loss and accuracy (plain lines when stdout is
//! not a terminal), one line per epoch saying what the pruner changed and why, and TensorBoard
//! event files written as the run goes.

use anyhow::Result;
use dtprune_prune::EventKind;
use dtprune_train::monitor::EpochRecord;
use dtprune_train::TrainObserver;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Human,
    Quiet,
    Json,
}

pub struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
    epochs: usize,
    batches: usize,
    terminal: bool,
    tb: Option<dtprune_report::EventWriter>,
    tb_dir: std::path::PathBuf,
    tb_error: Option<String>,
}

impl Progress {
    pub fn new(mode: Mode, run_dir: &Path) -> Result<Self> {
        Ok(Self {
            mode,
            bar: None,
            epochs: 0,
            batches: 0,
            terminal: std::io::stdout().is_terminal(),
            tb: None,
            tb_dir: run_dir.join("tb"),
            tb_error: None,
        })
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let Some(e) = &self.tb_error {
            eprintln!("warning: TensorBoard logging stopped: {e}");
        }
    }

    fn tb(&mut self) -> Option<&mut dtprune_report::EventWriter> {
        if self.tb.is_none() && self.tb_error.is_none() {
            match dtprune_report::EventWriter::create(&self.tb_dir) {
                Ok(w) => self.tb = Some(w),
                Err(e) => self.tb_error = Some(e.to_string()),
            }
        }
        self.tb.as_mut()
    }
}

impl TrainObserver for Progress {
    fn on_start(&mut self, epochs: usize, batches: usize) {
        self.epochs = epochs;
        self.batches = batches;
    }

    fn on_batch(&mut self, epoch: usize, batch: usize, loss: f64, accuracy: f64) {
        if self.mode != Mode::Human || !self.terminal {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(self.batches as u64);
            bar.set_style(
                ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        if batch == 1 {
            bar.reset();
            bar.set_prefix(format!("{epoch}/{}", self.epochs));
        }
        bar.set_position(batch as u64);
        if batch % 10 == 0 || batch == self.batches {
            bar.set_message(format!("loss {loss:.4} acc {:.2}%", accuracy * 100.0));
        }
    }

    fn on_epoch(&mut self, r: &EpochRecord) {
        // TensorBoard: the report crate's record type reads the same JSON.
        if let Ok(rec) = serde_json::to_value(r).and_then(serde_json::from_value::<dtprune_report::EpochRecord>) {
            if let Some(w) = self.tb() {
                if let Err(e) = dtprune_report::tb::log_epoch(w, &rec) {
                    self.tb_error = Some(e.to_string());
                    self.tb = None;
                }
            }
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => println!("{}", serde_json::to_string(r).unwrap_or_default()),
            Mode::Human => {
                let line = epoch_line(r, self.epochs);
                match &self.bar {
                    Some(bar) => bar.println(line),
                    None => println!("{line}"),
                }
            }
        }
    }

    fn on_prune(&mut self, epoch: usize, tensors: &[(&str, &[f32])]) {
        if let Some(w) = self.tb() {
            for (name, values) in tensors {
                let nonzero: Vec<f32> = values.iter().copied().filter(|v| *v != 0.0).collect();
                if let Err(e) = w.add_histogram(&format!("weights/{name}"), &nonzero, epoch as u64) {
                    self.tb_error = Some(e.to_string());
                    break;
                }
            }
        }
    }
}

/// `epoch 3/8  loss 0.1234 acc 96.50%  val 97.10%  sparsity 62.3%  pruned 1234 restored 0  tau 0.0123->0.0160 (why)`
fn epoch_line(r: &EpochRecord, epochs: usize) -> String {
    let count = |kind: EventKind| r.events.iter().filter(|e| e.kind == kind).filter_map(|e| e.count).sum::<usize>();
    let mut line = format!(
        "epoch {}/{}  loss {:.4} acc {:.2}%  val {:.2}%  sparsity {:.1}%  {:.1}s",
        r.epoch,
        epochs,
        r.train_loss,
        r.train_accuracy * 100.0,
        r.val_accuracy * 100.0,
        r.sparsity * 100.0,
        r.seconds
    );
    let (pruned, regrown, restored) = (count(EventKind::Prune), count(EventKind::Regrow), count(EventKind::Rollback));
    if pruned + regrown + restored > 0 {
        line.push_str(&format!("  pruned {pruned}"));
        if regrown > 0 {
            line.push_str(&format!(" regrown {regrown}"));
        }
        line.push_str(&format!(" restored {restored}"));
    }
    if let Some(e) = r.events.iter().find(|e| e.kind == EventKind::Rollback) {
        line.push_str(&format!("  ROLLBACK: {}", e.reason));
    } else if let Some(e) = r.events.iter().find(|e| e.kind == EventKind::Threshold) {
        let new = e.new.unwrap_or(f32::NAN);
        match e.old {
            Some(old) => line.push_str(&format!("  tau {old:.5}->{new:.5} ({})", e.reason)),
            None => line.push_str(&format!("  tau {new:.5} ({})", e.reason)),
        }
    }
    line
}
