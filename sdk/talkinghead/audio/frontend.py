"""Per-video-frame audio feature vectors, loudness-normalised.

A frame's vector (FEATURE_DIM = 323): its four log-mel frames (4×80, log10 power), energy
(dBFS / 20), log2(pitch / 100 Hz) where voiced else 0, and the voicing flag. Loudness is
normalised by one gain per recording so that its loud frames sit at TARGET_DB; silence stays
at the floor, so silence always looks the same to the models.
"""
from __future__ import annotations

import numpy as np

from . import features as F

FEATURE_DIM = F.MELS_PER_FRAME * F.N_MELS + 3
TARGET_DB = -20.0     # level of the 95th-percentile frame after normalisation
MAX_GAIN_DB = 30.0
VOICED_DB = -45.0     # a frame's pitch counts from this normalised level up
_MEL_FLOOR = -10.0    # log10 of the mel power floor


def loudness_gain_db(energy: np.ndarray) -> float:
    """Gain (dB) that brings the recording's loud frames to TARGET_DB; 0 for silence."""
    active = energy[energy > F.SILENCE_DB + 1.0]
    if active.size == 0:
        return 0.0
    return float(np.clip(TARGET_DB - np.percentile(active, 95), -MAX_GAIN_DB, MAX_GAIN_DB))


def frame_features(mel: np.ndarray, energy: np.ndarray, pitch: np.ndarray,
                   gain_db: float | np.ndarray | None = None) -> np.ndarray:
    """mel (4T)×80, energy T, pitch T -> T×323 float32.

    gain_db: one gain for the recording (default loudness_gain_db(energy)) or one per frame (T).
    """
    num_frames = len(energy)
    gain = loudness_gain_db(energy) if gain_db is None else np.asarray(gain_db, np.float64)
    mel_gain = np.repeat(gain, F.MELS_PER_FRAME)[:, None] if np.ndim(gain) else gain
    floor = mel <= _MEL_FLOOR + 1e-6                       # digital silence stays silence
    mel = np.where(floor, _MEL_FLOOR, np.maximum(mel + mel_gain / 10.0, _MEL_FLOOR))
    silent = energy <= F.SILENCE_DB + 1e-6
    level = np.where(silent, F.SILENCE_DB, np.maximum(energy + gain, F.SILENCE_DB)) / 20.0
    voiced = (pitch > 0) & (level * 20.0 > VOICED_DB)    # gated after normalisation: level-invariant
    log_pitch = np.where(voiced, np.log2(np.maximum(pitch, 1.0) / 100.0), 0.0)
    return np.concatenate([mel.reshape(num_frames, -1), level[:, None], log_pitch[:, None],
                           voiced[:, None]], axis=1).astype(np.float32)


def features_from_audio(audio: np.ndarray, num_frames: int | None = None) -> np.ndarray:
    """16 kHz float32 audio -> T×323, T = len(audio) // 640 unless given."""
    num_frames = len(audio) // F.FRAME if num_frames is None else num_frames
    return frame_features(F.log_mel(audio, num_frames), F.energy_db(audio, num_frames),
                          F.pitch_hz(audio, num_frames))
