//! From labelled WAV clips to a [`SpeechSplits`]: decode, log-mel, pad/truncate — and the
//! cache around it. Shared by every speech data set.

use std::path::{Path, PathBuf};

use crate::load_error::LoadResult;
use crate::speech::cache;
use crate::speech::mel::LogMel;
use crate::speech::options::SpeechOptions;
use crate::speech::set::{SpeechSet, SpeechSplits};
use crate::speech::wav::decode_wav;

/// One recording: where it came from (for errors and the record), its bytes, its class and its
/// split.
#[derive(Debug, Clone)]
pub struct Clip {
    pub source: PathBuf,
    pub bytes: Vec<u8>,
    pub label: u32,
    pub test: bool,
}

/// Where a set's features are cached: the directory and the fingerprint of its sources.
pub struct CacheSpec<'a> {
    pub dir: &'a Path,
    pub sources: String,
}

/// Loads from the cache when it holds this exact input, else runs `read_clips` and computes the
/// features (and stores them).
pub fn cached_features(
    dataset: &str,
    options: &SpeechOptions,
    class_names: Vec<String>,
    cache: Option<CacheSpec<'_>>,
    read_clips: impl FnOnce() -> LoadResult<Vec<Clip>>,
) -> LoadResult<SpeechSplits> {
    let keyed = cache.map(|c| {
        let key = cache::cache_key(dataset, &c.sources, &options.resolved.fingerprint());
        (cache::cache_path(c.dir, dataset, &key), key)
    });
    if let Some((path, key)) = &keyed {
        if let Some(hit) = cache::load(path, key) {
            return Ok(hit);
        }
    }
    let splits = compute_features(&read_clips()?, options, class_names)?;
    if let Some((path, key)) = &keyed {
        // A cache that cannot be written (read-only or full disk) costs time, not correctness.
        if let Err(e) = cache::store(path, key, &splits) {
            tracing::warn!("feature cache not written: {e}");
        }
    }
    Ok(splits)
}

/// Decodes and featurises every clip (both cores; the result does not depend on the threads).
pub fn compute_features(
    clips: &[Clip],
    options: &SpeechOptions,
    class_names: Vec<String>,
) -> LoadResult<SpeechSplits> {
    let per_clip = parallel_map(clips, |clip| {
        let samples = decode_wav(&clip.source, &clip.bytes, options.mel.sample_rate)?;
        Ok(LOG_MEL.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot
                .as_ref()
                .map(|lm| lm.config() != &options.mel)
                .unwrap_or(true)
            {
                *slot = Some(LogMel::new(options.mel));
            }
            slot.as_ref().unwrap().compute(&samples).0
        }))
    })?;
    let pad = options.pad_value();
    let n_mels = options.mel.n_mels;
    let mut train = SpeechSet::empty(options.frames, n_mels);
    let mut test = SpeechSet::empty(options.frames, n_mels);
    for (clip, features) in clips.iter().zip(per_clip) {
        let set = if clip.test { &mut test } else { &mut train };
        set.push(
            &features,
            clip.label,
            clip.source.display().to_string(),
            pad,
        );
    }
    Ok(SpeechSplits {
        train,
        test,
        class_names,
        pad_value: pad,
        options: options.resolved.to_json(),
    })
}

thread_local! {
    static LOG_MEL: std::cell::RefCell<Option<LogMel>> = const { std::cell::RefCell::new(None) };
}

/// `f` over `items` on two threads, results in item order; the first error (in item order) wins.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> LoadResult<R> + Sync,
) -> LoadResult<Vec<R>> {
    let half = items.len().div_ceil(2);
    let (a, b) = items.split_at(half);
    let (ra, rb) = std::thread::scope(|s| {
        let hb = s.spawn(|| b.iter().map(&f).collect::<LoadResult<Vec<R>>>());
        let ra = a.iter().map(&f).collect::<LoadResult<Vec<R>>>();
        (ra, hb.join().expect("feature thread panicked"))
    });
    let mut out = ra?;
    out.extend(rb?);
    Ok(out)
}
