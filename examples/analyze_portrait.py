"""Analyse a portrait and drive its mesh with motion codes, using the Python API.

    python examples/analyze_portrait.py [portrait.jpg]

Prints what the analyzer found and how a head turn plus an open mouth move the mesh.
"""
import sys

import numpy as np

from talkinghead import motion
from talkinghead.bundle import component_dir
from talkinghead.demo import example_portrait
from talkinghead.face import FaceAnalyzer

image = sys.argv[1] if len(sys.argv) > 1 else example_portrait()
face = FaceAnalyzer().analyze(image)                    # mesh: 478×3 pixels
print(f"face box {np.round(face.box)}, inter-ocular {face.inter_ocular:.1f} px")

basis = motion.MotionBasis.load(component_dir("motion"))
neutral = motion.estimate_neutral(face.mesh, basis)      # the portrait is its own neutral
codes = np.zeros((1, basis.layout.dim))                  # 1×D, names in basis.layout.names
codes[0, basis.layout.names.index("yaw")] = 0.3          # radians
codes[0, basis.layout.lip.start] = 2.0                   # first lip component, in corpus stds
mesh = motion.compose(neutral, codes, basis)[0]
moved = np.linalg.norm(mesh[:, :2] - face.mesh[:, :2], axis=1) / face.inter_ocular
print(f"composed mesh moves points by {100 * moved.mean():.1f} % of the inter-ocular distance on average")
again, _ = motion.fit(mesh[None], basis, neutral)
print(f"fit recovers the codes to {np.abs(again - codes).max():.1e}")
