"""Face analysis: detection, 478-point mesh and iris through OpenVINO."""
from .analyzer import Face, FaceAnalyzer
from .models import fetch_models

__all__ = ["Face", "FaceAnalyzer", "fetch_models"]
