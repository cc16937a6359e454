"""Confound selection and signal cleaning with nilearn's fMRIPrep strategies.

:func:`load_confounds` selects confounds and the sample mask with
:func:`nilearn.interfaces.fmriprep.load_confounds_strategy` from a confounds TSV wherever it is
(nilearn finds the file from the BOLD file name; here the TSV and its JSON sidecar are staged
under fMRIPrep names in a temporary folder, so any path works). :func:`clean_signals` then runs
:func:`nilearn.signal.clean` on parcel signals with exactly the arguments a
:class:`~nilearn.maskers.NiftiLabelsMasker` would pass, so cleaning after our parcellation equals
nilearn's masker with the same confounds and sample mask. :class:`Denoising` records every
parameter actually used for the provenance.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from nilearn.interfaces.fmriprep import load_confounds_strategy
from nilearn.signal import clean

from backpheno.errors import InputError
from backpheno.imaging.settings import DenoiseSettings

_STAGED_BOLD = "sub-staged_desc-preproc_bold.nii.gz"
_STAGED_CONFOUNDS = "sub-staged_desc-confounds_timeseries"


@dataclass(frozen=True)
class Denoising:
    """Confounds and sample mask of one run, with the parameters that produced them.

    Attributes
    ----------
    confounds : DataFrame
        Selected (demeaned) confound regressors, one row per volume.
    sample_mask : ndarray of int
        Indices of the retained volumes (every volume when nothing is censored; empty when
        every volume is censored, ``warnings`` then holds nilearn's explanation).
    n_volumes : int
        Volumes in the run.
    strategy : str
        nilearn preset name.
    confound_kwargs : dict
        Arguments given to ``load_confounds_strategy`` besides the preset.
    clean_kwargs : dict
        Arguments given to :func:`nilearn.signal.clean` (``t_r`` included).
    warnings : list of str
        Warnings nilearn raised while selecting confounds.
    """

    confounds: pd.DataFrame
    sample_mask: np.ndarray
    n_volumes: int
    strategy: str
    confound_kwargs: dict[str, object]
    clean_kwargs: dict[str, object]
    warnings: list[str] = field(default_factory=list)

    @property
    def n_censored(self) -> int:
        """Volumes removed by scrubbing or as non-steady-state."""
        return self.n_volumes - len(self.sample_mask)

    @property
    def censored(self) -> np.ndarray:
        """Boolean mask of the censored volumes."""
        keep = np.zeros(self.n_volumes, dtype=bool)
        keep[self.sample_mask] = True
        return ~keep

    def provenance(self) -> dict[str, object]:
        """Every denoising parameter used, as a JSON-serialisable dict."""
        return {
            "library": "nilearn.interfaces.fmriprep.load_confounds_strategy + "
                       "nilearn.signal.clean",
            "denoise_strategy": self.strategy,
            **{f"confounds.{k}": None if v == float("inf") else v    # inf: no threshold
               for k, v in self.confound_kwargs.items()},
            **{f"clean.{k}": v for k, v in self.clean_kwargs.items()},
            "n_confounds": int(self.confounds.shape[1]),
            "confound_columns": list(self.confounds.columns),
            "n_volumes": self.n_volumes,
            "n_censored": self.n_censored,
        }


def load_confounds(confounds_tsv: str | Path, settings: DenoiseSettings, t_r: float,
                   n_volumes: int | None = None) -> Denoising:
    """Select confounds and the sample mask of one run with a nilearn fMRIPrep preset.

    Parameters
    ----------
    confounds_tsv : path
        fMRIPrep ``*_desc-confounds_timeseries.tsv`` (its ``.json`` beside it is used when
        present; CompCor strategies need it).
    settings : DenoiseSettings
        Preset and overrides.
    t_r : float
        Repetition time in seconds (recorded for cleaning).
    n_volumes : int, optional
        Volumes of the BOLD run; a confounds table of another length is an error.

    Returns
    -------
    Denoising

    Raises
    ------
    InputError
        If the file is missing, unreadable for nilearn (for example a pre-1.2 fMRIPrep table),
        lacks a confound the strategy needs, or does not match the run length.
    """
    path = Path(confounds_tsv)
    if not path.is_file():
        raise InputError("confounds file not found", file=path)
    kwargs = settings.confound_kwargs()
    with tempfile.TemporaryDirectory(prefix="backpheno-confounds-") as tmp:
        staged = Path(tmp) / _STAGED_CONFOUNDS
        os.symlink(path.resolve(), staged.with_suffix(".tsv"))
        sidecar = path.with_name(path.name.removesuffix(".tsv") + ".json")
        if sidecar.is_file():
            os.symlink(sidecar.resolve(), staged.with_suffix(".json"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                confounds, sample_mask = load_confounds_strategy(
                    str(Path(tmp) / _STAGED_BOLD), denoise_strategy=settings.strategy, **kwargs)
            except (ValueError, KeyError, FileNotFoundError, json.JSONDecodeError) as err:
                raise InputError(f"nilearn could not select '{settings.strategy}' confounds: "
                                 f"{_message(err)}", file=path) from None
            except Exception as err:  # nilearn's MissingConfoundError is not a ValueError
                if type(err).__name__ != "MissingConfoundError":
                    raise
                raise InputError(f"confounds needed by strategy '{settings.strategy}' are "
                                 f"missing: {_message(err)}", file=path) from None
    messages = [str(w.message) for w in caught
                if not issubclass(w.category, (DeprecationWarning, FutureWarning))]
    total = len(confounds)
    if n_volumes is not None and total != n_volumes:
        raise InputError(f"confounds table has {total} rows but the BOLD run has {n_volumes} "
                         "volumes", file=path)
    if sample_mask is None:
        sample_mask = np.arange(total)
    sample_mask = np.asarray(sample_mask, dtype=int)
    # with every volume censored nilearn demeans over no volume: NaN confounds, nothing to clean
    if len(sample_mask) and confounds.isna().any().any():
        bad = confounds.columns[confounds.isna().any()].tolist()
        raise InputError(f"selected confounds contain missing values in {len(bad)} columns: "
                         f"{', '.join(bad)}", file=path)
    clean_kwargs = {**settings.clean_kwargs(), "t_r": float(t_r)}
    return Denoising(confounds, sample_mask, total, settings.strategy, kwargs, clean_kwargs,
                     messages)


def clean_signals(signals: np.ndarray, denoising: Denoising,
                  overrides: dict[str, object] | None = None) -> np.ndarray:
    """Clean parcel signals as :class:`~nilearn.maskers.NiftiLabelsMasker` would.

    Parameters
    ----------
    signals : ndarray, shape (n_volumes, n_regions)
        Raw region means; NaN columns (empty regions) stay NaN.
    denoising : Denoising
        Confounds, sample mask and cleaning parameters.
    overrides : dict, optional
        Cleaning arguments replacing those of ``denoising`` (ALFF uses ``standardize=None`` and
        no temporal filter).

    Returns
    -------
    ndarray, shape (n_retained, n_regions)
    """
    signals = np.asarray(signals, dtype=float)
    if signals.shape[0] != denoising.n_volumes:
        raise ValueError(f"signals have {signals.shape[0]} volumes, confounds "
                         f"{denoising.n_volumes}")
    kwargs = {**denoising.clean_kwargs, **(overrides or {})}
    out = np.full((len(denoising.sample_mask), signals.shape[1]), np.nan)
    usable = np.flatnonzero(np.isfinite(signals).all(axis=0))
    if len(usable) == 0:
        return out
    confounds = denoising.confounds.to_numpy() if denoising.confounds.shape[1] else None
    sample_mask = (None if len(denoising.sample_mask) == denoising.n_volumes
                   else denoising.sample_mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        out[:, usable] = clean(signals[:, usable], confounds=confounds, sample_mask=sample_mask,
                               **kwargs)
    return out


def _message(err: BaseException) -> str:
    """nilearn's whole message on one line (never cut: its lists of columns are the answer)."""
    text = " ".join(line.strip() for line in str(err).strip().splitlines() if line.strip())
    return text or type(err).__name__
