"""Stream: feed audio in 100 ms chunks (as a microphone or a TTS engine would) and receive
frames as soon as they are ready, writing them to an mp4 as they come.

    python examples/streaming.py [portrait.jpg] [speech.wav] [out.mp4]
"""
import sys
import time

import soundfile as sf

from talkinghead import Generator
from talkinghead.media.stream_writer import StreamWriter
from talkinghead.paths import example_file

image = sys.argv[1] if len(sys.argv) > 1 else example_file("portrait.png")
speech = sys.argv[2] if len(sys.argv) > 2 else example_file("speech.flac")
out = sys.argv[3] if len(sys.argv) > 3 else "streamed.mp4"

gen = Generator.from_pretrained()
avatar = gen.prepare(image)
samples, rate = sf.read(speech, dtype="float32")
chunks = (samples[i:i + rate // 10] for i in range(0, len(samples), rate // 10))  # 100 ms each

print(f"look-ahead {gen.lookahead_ms(10):.0f} ms")
start = time.perf_counter()
h, w = avatar.image.shape[:2]
with StreamWriter(out, w, h) as writer:
    for chunk in gen.stream(avatar, chunks, sample_rate=rate, crop_size=256):
        if chunk.start_frame == 0:
            print(f"first {len(chunk.frames)} frames after {time.perf_counter() - start:.2f} s")
        writer.write(chunk.frames, chunk.audio)
print(f"wrote {out}: {chunk.start_frame + len(chunk.frames)} frames in {time.perf_counter() - start:.1f} s")
