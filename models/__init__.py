"""Online (river) and offline (scikit-learn) models that turn scheme features into scores, and their persistence."""

from pathlib import Path

#: The per-scheme logistic weights the engine scores with (written by ``detector train``).
WEIGHTS_PATH = Path(__file__).with_name("weights.json")
