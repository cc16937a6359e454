"""backpheno: deep phenotyping of chronic low back pain trials.

Feature extraction (questionnaires, brain MRI, lumbar spine MRI, trunk IMU biomechanics) into one
documented feature table, treatment-specific response classifiers, SHAP moderator explanations and
exports for dynamic-treatment-regime models.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("backpheno")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0"

__all__ = ["__version__"]
