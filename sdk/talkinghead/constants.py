"""Numbers the whole SDK agrees on, defined once. Importing this module is cheap (no torch)."""

FPS = 25                                # the models' frame rate (motion codes, audio features)
SAMPLE_RATE = 16000                     # speech rate every model takes (Hz)
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640: one frame of audio
FRAME_MS = 1000 / FPS                   # 40 ms: one frame of audio

# frames of future audio a streamed chunk's lips see by default (Generator.stream's
# lookahead_frames). Fewer trade lip accuracy for latency: the example speech's streamed lip
# codes correlate with the offline ones 0.915 at 8 and 0.887 at 6 (chunks of 2 frames; 0.937 /
# 0.928 at 10)
STREAM_LOOKAHEAD = 8

CROP_SIZES = (256, 512)                 # face-crop sides the renderer works at
# Longest photo side kept: time and memory grow with the frame area, and H.264 levels end at
# 8192×4320. Larger photos are downscaled once, when prepared.
MAX_SIDE = 4096

TEMPERATURE = 1.2                       # default diffusion sampling temperature (noise scale)
