"""Audio: 16 kHz speech -> features aligned to 25 fps video."""
from .features import energy_db, log_mel, pitch_hz

__all__ = ["energy_db", "log_mel", "pitch_hz"]
