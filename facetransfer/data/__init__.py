"""Data layer: source readers, manifest, demo data, DVC versioning, datasets."""
