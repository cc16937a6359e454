"""Lumbar spine MRI features: discs, vertebral bodies and paraspinal muscles.

From a sagittal T2-weighted image with its label map (vertebrae, discs, canal) and an axial
label map with a Dixon fat-fraction map (paraspinal muscles), per participant × session:

* discs L1-L2 ... L5-S1: volume, mean and central height along each disc's own axis, disc height
  index, nucleus/CSF T2 signal ratio (a Pfirrmann proxy) and a degenerated flag;
* vertebral bodies L1 ... S1: height along the body's own axis, volume, marrow fat fraction;
* multifidus, erector spinae and psoas, left and right: cross-sectional area, fat fraction, lean
  area and left-right asymmetry; plus summaries.

Everything is measured in world millimetres from the image affine. Label values are named by a
versioned :class:`LabelScheme` (SPIDER, TotalSpineSeg, SPINEPS, VerSe, MuscleMap, the dataset's
dseg.tsv or your own mapping).

Examples
--------
>>> from backpheno.imaging import spine                                  # doctest: +SKIP
>>> result = spine.measure_sagittal("sub-01_dseg.nii.gz", "sub-01_T2w.nii.gz",
...                                 scheme="totalspineseg")              # doctest: +SKIP
>>> result.levels[["mean_height_mm", "height_index", "csf_ratio"]]       # doctest: +SKIP
"""

from backpheno.imaging.spine.extractor import (
    EXTRACTOR,
    SpineExtractor,
    input_paths,
    spine_features,
)
from backpheno.imaging.spine.features import feature_specs
from backpheno.imaging.spine.labels import (
    BUILTIN_SCHEMES,
    LabelScheme,
    load_scheme,
    scheme_from_mapping,
    scheme_from_tsv,
)
from backpheno.imaging.spine.muscles import MuscleResult, measure_muscles
from backpheno.imaging.spine.plotting import plot_axial, plot_sagittal
from backpheno.imaging.spine.sagittal import SagittalResult, measure_sagittal
from backpheno.imaging.spine.settings import SpineSettings

__all__ = [
    "BUILTIN_SCHEMES",
    "EXTRACTOR",
    "LabelScheme",
    "MuscleResult",
    "SagittalResult",
    "SpineExtractor",
    "SpineSettings",
    "feature_specs",
    "input_paths",
    "load_scheme",
    "measure_muscles",
    "measure_sagittal",
    "plot_axial",
    "plot_sagittal",
    "scheme_from_mapping",
    "scheme_from_tsv",
    "spine_features",
]
