"""Generate a talking-head video from a portrait and a speech recording.

    python examples/quickstart.py [portrait.jpg] [speech.wav] [out.mp4]

Without arguments it uses the example portrait and speech shipped in the package.
"""
import sys

from talkinghead import Generator
from talkinghead.paths import example_file

image = sys.argv[1] if len(sys.argv) > 1 else example_file("portrait.png")
speech = sys.argv[2] if len(sys.argv) > 2 else example_file("speech.flac")
out = sys.argv[3] if len(sys.argv) > 3 else "talk.mp4"

gen = Generator.from_pretrained()          # the bundle embedded in the package; offline
avatar = gen.prepare(image)                # face analysis, once per portrait
avatar.save("avatar.npz")                  # reuse later with Avatar.load("avatar.npz")
video = gen.generate(avatar, speech, seed=7, out=out, progress=True)
print(f"wrote {video.path}: {video.num_frames} frames, {video.duration:.2f} s, backend {gen.backend}")
