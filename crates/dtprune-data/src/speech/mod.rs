//! Speech data: WAV → log-mel features (fixed frame count, true lengths kept), for the
//! built-in FSDD and for `audio-folder` trees.

pub mod audio_folder;
pub mod cache;
pub mod clips;
pub mod fsdd;
pub mod mel;
pub mod options;
pub mod set;
pub mod wav;

pub use audio_folder::{load_audio_folder, AUDIO_FOLDER_NAME};
pub use fsdd::{load_fsdd, FSDD_NAME};
pub use mel::{LogMel, MelConfig};
pub use options::SpeechOptions;
pub use set::{SpeechSet, SpeechShape, SpeechSplits};
