"""tokenizers-lab: train, audit, invert and transplant LLM tokenizers from the command line."""

__version__ = "0.1.0"

from tokenizers_lab.errors import LabError

__all__ = ["LabError", "__version__"]
