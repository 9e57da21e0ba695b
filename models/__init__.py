"""Online (river) and offline (scikit-learn) models that turn scheme features into scores, and their persistence."""
