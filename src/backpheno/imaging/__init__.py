"""Imaging feature extractors (brain fMRI, lumbar spine MRI)."""
