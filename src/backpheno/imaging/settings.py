"""Settings of the brain extractor (the ``brain:`` section of an extraction config).

Every default is documented where it is defined, with the publication it follows:

* denoising: nilearn's ``scrubbing`` preset with global signal regression, framewise-displacement
  censoring at 0.5 mm and no DVARS censoring, then detrending and z-scoring of the parcel signals
  ("scrubbing.5+gsr" of Wang et al. 2024, PLoS Comput Biol 20:e1011942; scrubbing plus GSR was
  generally the most effective strategy in that benchmark; use ``strategy: simple`` when an
  analysis needs continuous sampling);
* run exclusion: the benchmark's "stringent" motion criteria (mean FD > 0.25 mm, or more than
  20 % of volumes with FD > 0.2 mm) plus at least 120 s of retained data;
* parcel coverage: at least half of a parcel's voxels inside the brain mask with signal, as
  XCP-D's ``min_coverage`` default;
* atlas: the Seitzman 2018 300-ROI coordinate atlas with 14 networks (offline, in nilearn);
* targeted seeds: the region pairs named in the chronic back pain literature (Baliki et al. 2012;
  Loggia et al. 2013; Kim et al. 2019), placed on Seitzman 2018 ROIs of those structures.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from backpheno.config import InputPath, OutputPath, StrictModel

#: Framewise-displacement censoring threshold of the default strategy (mm), Wang et al. 2024.
DEFAULT_FD_THRESHOLD_MM = 0.5

#: The template space picked when ``space`` is not configured (fMRIPrep's default output space).
DEFAULT_SPACE = "MNI152NLin2009cAsym"


class AtlasSettings(StrictModel):
    """Which atlas defines the regions.

    ``builtin: seitzman2018`` needs no files. Otherwise give ``image`` (+ ``table``) for a label
    atlas or ``table`` with ``x, y, z`` columns for a coordinate atlas.
    """

    builtin: Literal["seitzman2018"] | None = Field(
        "seitzman2018", description="an atlas shipped offline; null to read one from files")
    image: InputPath | None = Field(None, description="label image (NIfTI) of a label atlas")
    table: InputPath | None = Field(
        None, description="region table: dseg.tsv / CSV / Schaefer order .txt for a label atlas, "
                          "or a TSV with x, y, z (MNI mm) for a coordinate atlas")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9-]+$",
                             description="identifier recorded in provenance")
    radius_mm: float | None = Field(None, gt=0, le=30,
                                    description="sphere radius overriding the atlas's own")
    network_column: str | None = Field(None, description="region-table column with networks")
    exclude_networks: list[str] = Field(
        default_factory=lambda: ["unassigned"],
        description="networks left out of network summaries (their ROIs still count for QC)")
    citation: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> AtlasSettings:
        if self.builtin is None and self.image is None and self.table is None:
            raise ValueError("atlas: give builtin, or image (+ table), or a coordinate table")
        if self.builtin is not None and (self.image is not None or self.table is not None):
            raise ValueError("atlas: builtin cannot be combined with image/table; set "
                             "builtin: null to read an atlas from files")
        return self


class DenoiseSettings(StrictModel):
    """Confound regression, censoring and filtering, as nilearn's fMRIPrep interface does it.

    ``strategy`` and the ``None``-able options are passed to
    :func:`nilearn.interfaces.fmriprep.load_confounds_strategy` (``None`` keeps the preset's
    default); the rest to :func:`nilearn.signal.clean`.
    """

    strategy: Literal["simple", "scrubbing", "compcor"] = "scrubbing"
    global_signal: Literal["basic", "power2", "derivatives", "full"] | None = Field(
        "basic", description="global signal regressors; null for no GSR")
    fd_threshold: float | None = Field(
        None, gt=0, description="mm; scrubbing only; null means 0.5 (Wang et al. 2024 "
                                "'scrubbing.5'; nilearn's own preset default is 0.2)")
    std_dvars_threshold: float | None = Field(
        None, gt=0, description="standardised DVARS threshold; null disables DVARS censoring")
    scrub: int | None = Field(None, ge=0, description="minimal segment length (preset: 5)")
    motion: Literal["basic", "power2", "derivatives", "full"] | None = None
    wm_csf: Literal["basic", "power2", "derivatives", "full"] | None = None
    compcor: Literal["anat_combined", "anat_separated", "temporal", "temporal_anat_combined",
                     "temporal_anat_separated"] | None = None
    n_compcor: int | Literal["all"] | None = None
    demean: bool = True
    detrend: bool = True
    standardize: Literal["zscore_sample", "zscore", "psc"] | None = "zscore_sample"
    standardize_confounds: bool = True
    low_pass: float | None = Field(None, gt=0, description="Hz; null for none")
    high_pass: float | None = Field(None, gt=0, description="Hz; null (cosine regressors of the "
                                                            "high_pass confounds are used)")
    filter: Literal["butterworth", "cosine"] = "butterworth"

    @model_validator(mode="after")
    def _strategy_options(self) -> DenoiseSettings:
        scrub_only = {"fd_threshold": self.fd_threshold,
                      "std_dvars_threshold": self.std_dvars_threshold, "scrub": self.scrub}
        if self.strategy != "scrubbing":
            wrong = [k for k, v in scrub_only.items() if v is not None]
            if wrong:
                raise ValueError(f"{wrong} only apply to strategy 'scrubbing'")
        if self.strategy != "compcor" and (self.compcor or self.n_compcor):
            raise ValueError("compcor / n_compcor only apply to strategy 'compcor'")
        if self.strategy == "compcor" and self.wm_csf is not None:
            raise ValueError("wm_csf does not apply to strategy 'compcor'")
        if self.low_pass and self.high_pass and self.low_pass <= self.high_pass:
            raise ValueError("low_pass must be above high_pass")
        return self

    def confound_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``load_confounds_strategy`` (beside ``denoise_strategy``)."""
        kwargs: dict[str, object] = {"global_signal": self.global_signal, "demean": self.demean}
        if self.strategy == "scrubbing":
            kwargs["fd_threshold"] = self.fd_threshold if self.fd_threshold is not None else (
                DEFAULT_FD_THRESHOLD_MM)
            # nilearn's preset replaces None by its own 1.5; no volume exceeds infinity
            kwargs["std_dvars_threshold"] = (float("inf") if self.std_dvars_threshold is None
                                             else self.std_dvars_threshold)
            if self.scrub is not None:
                kwargs["scrub"] = self.scrub
        optional = {"motion": self.motion, "wm_csf": self.wm_csf, "compcor": self.compcor,
                    "n_compcor": self.n_compcor}
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        if self.global_signal is None:
            kwargs.pop("global_signal")
        return kwargs

    def clean_kwargs(self) -> dict[str, object]:
        """Keyword arguments for :func:`nilearn.signal.clean` (without data, confounds, t_r)."""
        return {"detrend": self.detrend, "standardize": self.standardize,
                "standardize_confounds": self.standardize_confounds,
                "low_pass": self.low_pass, "high_pass": self.high_pass, "filter": self.filter}

    @property
    def label(self) -> str:
        """Short label of the strategy, e.g. ``scrubbing.5+gsr``."""
        text = self.strategy
        if self.strategy == "scrubbing":
            fd = self.fd_threshold if self.fd_threshold is not None else DEFAULT_FD_THRESHOLD_MM
            text += f".{fd:g}".replace("0.", "")
        return text + ("+gsr" if self.global_signal else "")


class SeedSettings(StrictModel):
    """A seed region: one or several spheres whose mean signals are averaged."""

    name: str = Field(pattern=r"^[A-Za-z0-9-]+$")
    coordinates: list[tuple[float, float, float]] = Field(min_length=1,
                                                          description="MNI mm")
    radius_mm: float = Field(5.0, gt=0, le=30)
    description: str = ""
    source: str = Field("", description="where the coordinates come from")


class SeedPairSettings(StrictModel):
    """A seed-to-seed connectivity feature ``brain.seed.<a>__<b>`` and its rationale."""

    a: str
    b: str
    citation: str


def _default_seeds() -> list[SeedSettings]:
    seitzman = "Seitzman et al. 2020 NeuroImage 206:116290 ROI"
    return [
        SeedSettings(name="mpfc", coordinates=[(-7.04, 50.82, -1.29), (7.51, 42.49, -5.35)],
                     radius_mm=5.0, description="ventromedial prefrontal cortex (bilateral)",
                     source=f"{seitzman}s 104 and 115 (DefaultMode)"),
        SeedSettings(name="nacc", coordinates=[(-12.49, 17.05, -4.49), (12.66, 17.32, -5.06)],
                     radius_mm=4.0, description="nucleus accumbens / ventral striatum (bilateral)",
                     source=f"{seitzman}s 246 and 245 (Reward, basal ganglia)"),
        SeedSettings(name="dmn", coordinates=[(-6.84, -54.90, 27.05), (7.94, -48.37, 30.57),
                                              (-7.04, 50.82, -1.29), (7.51, 42.49, -5.35)],
                     radius_mm=5.0, description="default mode hubs: posterior cingulate/precuneus "
                                                "and ventromedial prefrontal cortex",
                     source=f"{seitzman}s 103, 114, 104, 115 (DefaultMode)"),
        SeedSettings(name="insula-left", coordinates=[(-35.44, 20.03, 0.07)], radius_mm=5.0,
                     description="left anterior insula", source=f"{seitzman} 201 (Salience)"),
        SeedSettings(name="insula-right", coordinates=[(33.56, 16.45, -7.58)], radius_mm=5.0,
                     description="right anterior insula", source=f"{seitzman} 209 (Salience)"),
        SeedSettings(name="s1back", coordinates=[(-20.66, -31.33, 60.85), (20.21, -28.80, 59.80)],
                     radius_mm=5.0,
                     description="dorsomedial postcentral gyrus, trunk representation of S1 "
                                 "(bilateral); Kim et al. localised S1back functionally per "
                                 "participant, replace with a localiser when available",
                     source=f"{seitzman}s 21 and 33 (SomatomotorDorsal)"),
        SeedSettings(name="salience",
                     coordinates=[(-0.94, 14.86, 43.99), (33.56, 16.45, -7.58),
                                  (-35.44, 20.03, 0.07), (10.26, 22.06, 27.48),
                                  (5.23, 23.22, 37.03), (-10.76, 25.99, 24.54),
                                  (-0.20, 30.35, 27.22), (26.07, 49.56, 26.58),
                                  (-27.50, 52.04, 21.28)],
                     radius_mm=5.0, description="salience network (all 9 Seitzman Salience ROIs)",
                     source=f"{seitzman}s 201-209 (Salience)"),
    ]


def _default_pairs() -> list[SeedPairSettings]:
    return [
        SeedPairSettings(a="mpfc", b="nacc", citation=(
            "Baliki MN et al. Corticostriatal functional connectivity predicts transition to "
            "chronic back pain. Nat Neurosci 2012;15:1117-1119")),
        SeedPairSettings(a="dmn", b="insula-left", citation=(
            "Loggia ML et al. Default mode network connectivity encodes clinical pain: an arterial "
            "spin labeling study. Pain 2013;154:24-33; Kim J et al. Pain 2019;160:1594-1605")),
        SeedPairSettings(a="dmn", b="insula-right", citation=(
            "Loggia ML et al. Pain 2013;154:24-33; Kim J et al. Somatotopically specific primary "
            "somatosensory connectivity to salience and default mode networks encodes clinical "
            "pain. Pain 2019;160:1594-1605")),
        SeedPairSettings(a="s1back", b="salience", citation=(
            "Kim J et al. Somatotopically specific primary somatosensory connectivity to salience "
            "and default mode networks encodes clinical pain. Pain 2019;160:1594-1605")),
    ]


class ConnectivitySettings(StrictModel):
    """Which connectivity features are exported."""

    kind: Literal["correlation", "partial_correlation"] = Field(
        "correlation", description="Pearson correlation or partial correlation (Ledoit-Wolf "
                                   "shrunk precision), both Fisher z-transformed")
    network_summaries: bool = Field(True, description="brain.fc.<NetA>__<NetB>: mean Fisher z "
                                                      "within / between networks")
    edges: bool = Field(False, description="brain.edge.<roiA>__<roiB> for every ROI pair "
                                           "(R(R-1)/2 columns; off by default)")
    seeds: list[SeedSettings] = Field(default_factory=_default_seeds)
    seed_pairs: list[SeedPairSettings] = Field(default_factory=_default_pairs)

    @model_validator(mode="after")
    def _pairs_name_seeds(self) -> ConnectivitySettings:
        names = [s.name for s in self.seeds]
        if len(set(names)) != len(names):
            raise ValueError("seed names must be unique")
        unknown = sorted({n for p in self.seed_pairs for n in (p.a, p.b)} - set(names))
        if unknown:
            raise ValueError(f"seed_pairs name unknown seeds {unknown}; known: {names}")
        return self


class AmplitudeSettings(StrictModel):
    """ALFF and fALFF (Zang et al. 2007; Zou et al. 2008) of parcel signals."""

    enabled: bool = True
    band_hz: tuple[float, float] = Field((0.01, 0.08), description="low-frequency band, Hz")
    level: Literal["network", "roi"] = Field(
        "network", description="export network means (default) or one column per ROI")

    @field_validator("band_hz")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] < value[1]:
            raise ValueError(f"band_hz must be (low, high) with 0 <= low < high, got {value}")
        return value


class StructuralSettings(StrictModel):
    """Grey-matter volumes from fMRIPrep's GM probability map."""

    enabled: bool = True
    level: Literal["network", "roi"] = "network"


class QCSettings(StrictModel):
    """Run exclusion thresholds (Wang et al. 2024 'stringent' motion criteria by default)."""

    max_mean_fd_mm: float | None = Field(0.25, gt=0, description="exclude above; null: no limit")
    fd_limit_mm: float = Field(0.2, gt=0, description="FD above which a volume counts as high "
                                                      "motion for max_high_motion_fraction")
    max_high_motion_fraction: float | None = Field(0.2, ge=0, le=1)
    min_retained_seconds: float | None = Field(120.0, ge=0)
    min_roi_coverage: float = Field(0.5, ge=0, le=1, description="share of an ROI's voxels in "
                                                                 "the mask with signal")
    min_tsnr: float | None = Field(None, ge=0, description="median tSNR below which a run is "
                                                           "excluded; null: not used")
    exclude_flagged_runs: bool = Field(True, description="False keeps flagged runs' features "
                                                         "(the QC row still says flagged)")


class BrainSettings(StrictModel):
    """Settings of the ``brain`` extractor."""

    input: Literal["fmriprep", "xcpd"] = "fmriprep"
    task: str = Field("rest", pattern=r"^[A-Za-z0-9]+$", description="task- entity of the BOLD")
    space: str | None = Field(
        None, pattern=r"^[A-Za-z0-9]+$",
        description=f"space- entity; null: {DEFAULT_SPACE} when present, else the only space "
                    "found (a QC row says which was used)")
    resolution: str | None = Field(
        None, pattern=r"^[A-Za-z0-9]+$",
        description="res- entity of the BOLD and tissue maps; null: the only one found, else "
                    "the first in sort order (a QC row says which)")
    acquisition: str | None = Field(None, pattern=r"^[A-Za-z0-9]+$",
                                    description="acq- entity; null: every acquisition")
    run: str | None = Field(None, pattern=r"^[A-Za-z0-9]+$",
                            description="use one run; null: every run found, QC-passing runs "
                                        "averaged")
    echo: str | None = Field(None, pattern=r"^[A-Za-z0-9]+$",
                             description="echo- entity of a multi-echo output; null: the "
                                         "optimally combined BOLD (no echo- entity)")
    t_r: float | None = Field(None, gt=0, le=30,
                              description="repetition time (s) overriding the sidecar and the "
                                          "NIfTI header")
    sessionless_as: str | None = Field(
        "ses-V0", pattern=r"^ses-[A-Za-z0-9]+$",
        description="session whose features come from derivatives without a ses- level "
                    "(sub-XX/func); null: such derivatives are not read")
    atlas: AtlasSettings = Field(default_factory=AtlasSettings)
    denoise: DenoiseSettings = Field(default_factory=DenoiseSettings)
    connectivity: ConnectivitySettings = Field(default_factory=ConnectivitySettings)
    amplitude: AmplitudeSettings = Field(default_factory=AmplitudeSettings)
    structural: StructuralSettings = Field(default_factory=StructuralSettings)
    qc: QCSettings = Field(default_factory=QCSettings)
    xcpd_atlas: str | None = Field(None, pattern=r"^[A-Za-z0-9]+$",
                                   description="XCP-D atlas label (input: xcpd)")
    timeseries_dir: OutputPath | None = Field(
        None, description="write each run's denoised parcel time series and covariance here "
                          "(.npz) for tangent-space models")
    block_volumes: int = Field(16, ge=1, le=4096, description="volumes read per block")

    @model_validator(mode="after")
    def _xcpd_needs_atlas(self) -> BrainSettings:
        if self.input == "xcpd" and self.xcpd_atlas is None:
            raise ValueError("input 'xcpd' needs xcpd_atlas (the atlas label in XCP-D's file "
                             "names, e.g. 4S156Parcels)")
        return self
