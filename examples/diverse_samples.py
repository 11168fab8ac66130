"""Three performances of the same speech, side by side in one video: lips agree, head motion,
blinks and gaze differ by seed.

    python examples/diverse_samples.py [portrait.jpg] [speech.wav] [out.mp4]
"""
import sys

import numpy as np

from talkinghead import Generator
from talkinghead.media import VideoWriter
from talkinghead.paths import example_file

image = sys.argv[1] if len(sys.argv) > 1 else example_file("portrait.png")
speech = sys.argv[2] if len(sys.argv) > 2 else example_file("speech.flac")
out = sys.argv[3] if len(sys.argv) > 3 else "diverse.mp4"

gen = Generator.from_pretrained()
avatar = gen.prepare(image)
videos = gen.generate(avatar, speech, seed=1, num_samples=3, crop_size=256, paste_back=False, progress=True)
frames = np.concatenate([v.frames for v in videos], axis=2)  # T×256×768×3: seeds left to right
with VideoWriter(out, frames.shape[2], frames.shape[1], audio=videos[0].audio) as writer:
    writer.write_many(frames)
pose = np.stack([v.codes[:, :3] for v in videos])  # 3×T×3 yaw, pitch, roll (radians)
print(f"wrote {out}; seeds {[v.seed for v in videos]}; mean pairwise head-angle distance "
      f"{np.mean([np.abs(pose[i] - pose[j]).mean() for i in range(3) for j in range(i + 1, 3)]):.4f} rad")
