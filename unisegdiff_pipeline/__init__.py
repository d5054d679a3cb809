"""UniSegDiff pipeline: self-configuring staged-diffusion lesion segmentation (core package)."""

__version__ = "0.1.0"
