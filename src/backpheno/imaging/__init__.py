"""Imaging feature extractors (brain fMRI, FreeSurfer statistics, lumbar spine MRI).

Public API (imported lazily; the lumbar spine has its own face, :mod:`backpheno.imaging.spine`)::

    extract_run, combine_runs, RunResult, BrainExtractor   brain.py
    BrainSettings                                          settings.py
    Atlas, load_label_atlas, load_sphere_atlas            atlas.py
    TangentSpace, EdgeTangentSpace                         tangent.py
    FreeSurferSettings, FreeSurferExtractor,               freesurfer.py
    freesurfer_features
"""

from __future__ import annotations

from backpheno.lazy import lazy_exports

_EXPORTS = {
    "extract_run": "brain",
    "combine_runs": "brain",
    "RunResult": "brain",
    "BrainExtractor": "brain",
    "BrainSettings": "settings",
    "Atlas": "atlas",
    "load_label_atlas": "atlas",
    "load_sphere_atlas": "atlas",
    "TangentSpace": "tangent",
    "EdgeTangentSpace": "tangent",
    "FreeSurferSettings": "freesurfer",
    "FreeSurferExtractor": "freesurfer",
    "freesurfer_features": "freesurfer",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
