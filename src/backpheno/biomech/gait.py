"""Walking: mobgap's lower-back pipeline plus trunk-acceleration regularity and symmetry.

Spatio-temporal parameters come from mobgap's Mobilise-D pipeline
(:class:`mobgap.pipeline.MobilisedPipelineHealthy`, "P1": GsdIluz gait sequences, IcdIonescu
initial contacts, CadFromIcDetector cadence, SlZijlstra stride length, WsNaive speed, stride
selection and walking-bout assembly; or ``MobilisedPipelineImpaired``, "P2"). Two choices are
ours and documented here:

* SlZijlstra uses the scaling factor tuned on *all* MsProject participants (``ms_all``,
  4.739/4) rather than its default tuned on people with MS only, since a low back pain cohort is
  not an MS cohort;
* features are averaged over **steady-state** strides: the first and last
  ``steady_state_trim_strides`` strides of every walking bout (gait initiation and
  termination) are left out; bouts too short for that keep all their strides and the result is
  flagged.

Step and stride regularity and step symmetry follow Moe-Nilssen & Helbostad (2004, J Biomech
37:121): the unbiased autocorrelation of the tilt-corrected vertical and antero-posterior trunk
acceleration within each walking bout, normalised to 1 at lag 0; ``Ad1`` is its peak near one
step period (0.6-1.4 × 60 / cadence), ``Ad2`` near one stride (1.6-2.4 steps); symmetry is
``Ad1 / Ad2``. Bout values are averaged weighted by bout duration.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from backpheno.biomech.angles import find_static_baseline, remove_gyro_offset
from backpheno.biomech.features import TaskResult
from backpheno.biomech.io import ACC_COLUMNS, IMU_COLUMNS, ImuRecording
from backpheno.biomech.orientation import estimate_orientation, gravity_direction
from backpheno.biomech.settings import BiomechSettings
from backpheno.docstrings import fill_doc
from backpheno.errors import InputError

#: Shortest recording handed to mobgap (s); its gait sequence detector needs several windows.
MIN_DURATION_S = 5.0


@fill_doc
def run_mobgap(imu: pd.DataFrame, sampling_rate_hz: float, *, sensor_height_m: float,
               pipeline: str = "healthy", stride_length_factor: str = "ms_all"):
    """Run mobgap's lower-back pipeline on one sensor.

    Parameters
    ----------
    imu : DataFrame
        Canonical columns (m/s², deg/s) in the mobgap sensor frame (x superior, y right,
        z anterior), which is the frame :mod:`backpheno.biomech.io` delivers.
    %(sampling_rate_hz)s
    sensor_height_m : float
        Height of the sensor above the floor when standing (m), for SlZijlstra.
    pipeline : {"healthy", "impaired"}
        ``MobilisedPipelineHealthy`` or ``MobilisedPipelineImpaired``.
    stride_length_factor : {"ms_all", "ms_ms"}
        SlZijlstra scaling factor (see module notes).

    Returns
    -------
    mobgap pipeline
        The fitted pipeline (``gs_list_``, ``raw_ic_list_``, ``per_stride_parameters_``,
        ``per_wb_parameters_``).
    """
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings():
        # mobgap ships its left/right classifier (LrcUllrich) as a scikit-learn 1.6 pickle;
        # the left/right labels are not used by any feature here
        warnings.simplefilter("ignore", InconsistentVersionWarning)
        from mobgap.data import GaitDatasetFromData
        from mobgap.pipeline import MobilisedPipelineHealthy, MobilisedPipelineImpaired
        from mobgap.stride_length import SlZijlstra

        factor = getattr(SlZijlstra.PredefinedParameters,
                         f"step_length_scaling_factor_{stride_length_factor}")
        kind = {"healthy": MobilisedPipelineHealthy,
                "impaired": MobilisedPipelineImpaired}[pipeline]
        dataset = GaitDatasetFromData(
            {"recording": {"LowerBack": imu[list(IMU_COLUMNS)].reset_index(drop=True)}},
            sampling_rate_hz,
            {"recording": {"sensor_height_m": sensor_height_m, "cohort": None}},
            {"recording": {"measurement_condition": "laboratory"}},
        )
        runner = kind(stride_length_calculation=SlZijlstra(**factor), dmo_thresholds=None,
                      dmo_aggregation=None, recommended_cohorts=None)
        return runner.safe_run(dataset[0])


def steady_state_strides(strides: pd.DataFrame, trim: int) -> tuple[pd.DataFrame, bool]:
    """Strides without the first and last ``trim`` of each walking bout.

    Returns
    -------
    DataFrame, bool
        The kept strides, and whether every bout was long enough to be trimmed (a bout needs at
        least ``2 * trim + 1`` strides; shorter bouts are kept whole).
    """
    kept, trimmed_all = [], True
    for _, bout in strides.groupby(level="wb_id", sort=False):
        if trim and len(bout) >= 2 * trim + 1:
            kept.append(bout.iloc[trim:len(bout) - trim])
        else:
            trimmed_all &= trim == 0
            kept.append(bout)
    return (pd.concat(kept) if kept else strides.iloc[:0]), trimmed_all


def autocorrelation(signal: np.ndarray) -> np.ndarray:
    """Unbiased autocorrelation of a mean-removed signal, normalised to 1 at lag 0."""
    x = np.asarray(signal, float) - np.mean(signal)
    n = len(x)
    size = int(2 ** np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(x, size)
    raw = np.fft.irfft(spectrum * np.conj(spectrum), size)[:n]
    unbiased = raw / (n - np.arange(n))
    return unbiased / unbiased[0]


@fill_doc
def regularity(signal: np.ndarray, sampling_rate_hz: float,
               step_time_s: float) -> tuple[float, float, float]:
    """Step regularity ``Ad1``, stride regularity ``Ad2`` and symmetry ``Ad1 / Ad2``.

    Parameters
    ----------
    signal : array
        Trunk acceleration along one axis during steady walking.
    %(sampling_rate_hz)s
    step_time_s : float
        Expected step period (s), e.g. ``60 / cadence``.
    """
    r = autocorrelation(signal)
    lag = np.arange(len(r)) / sampling_rate_hz

    def peak(low: float, high: float) -> float:
        window = (lag >= low * step_time_s) & (lag <= high * step_time_s)
        return float(r[window].max()) if window.any() else float("nan")

    ad1, ad2 = peak(0.6, 1.4), peak(1.6, 2.4)
    return ad1, ad2, ad1 / ad2 if ad2 else float("nan")


def gait_features(recording: ImuRecording, settings: BiomechSettings | None = None) -> TaskResult:
    """Cadence, stride length, speed, regularity and symmetry of a walking recording.

    Parameters
    ----------
    recording : ImuRecording
        With the lower-back sensor ``settings.gait_sensor`` (default ``S1``). The sensor height
        comes from the recording's ``SensorHeight`` metadata (metres, per tracked point), else
        from ``settings.sensor_height_m``.
    settings : BiomechSettings, optional
        Defaults when omitted.

    Returns
    -------
    TaskResult
        ``events`` holds mobgap's per-stride parameters (with a ``steady_state`` column);
        ``signals`` the vertical and antero-posterior acceleration; ``details`` the pipeline.
    """
    settings = settings or BiomechSettings()
    fs = recording.sampling_rate_hz
    imu = recording.imu(settings.gait_sensor)
    if recording.duration_s < MIN_DURATION_S:
        return TaskResult.unmeasurable("walk", "failed", f"recording too short "
                                       f"({recording.duration_s:.1f} s < {MIN_DURATION_S:.0f} s)")
    given = recording.metadata.get("SensorHeight", {}).get(settings.gait_sensor)
    height = settings.sensor_height_m if given is None else _sensor_height(given, recording)
    pipeline = run_mobgap(imu, fs, sensor_height_m=height, pipeline=settings.gait_pipeline,
                          stride_length_factor=settings.stride_length_factor)
    strides = pipeline.per_stride_parameters_
    bouts = pipeline.per_wb_parameters_
    vertical, antero_posterior = _tilt_corrected(imu, fs, settings)
    signals = pd.DataFrame({"acc_vertical_mps2": vertical, "acc_ap_mps2": antero_posterior},
                           index=pd.Index(recording.time_s, name="time_s"))
    if strides.empty:
        result = TaskResult.unmeasurable(
            "walk", "failed", f"mobgap found no walking bout ({len(pipeline.gs_list_)} gait "
                              "sequences, no strides passing its selection)")
        result.signals, result.details = signals, {"pipeline": pipeline}
        return result

    steady, trimmed_all = steady_state_strides(strides, settings.steady_state_trim_strides)
    features = {
        "n_walking_bouts": float(len(bouts)),
        "walking_duration_s": float(((bouts["end"] - bouts["start"]) / fs).sum()),
        "n_strides": float(len(steady)),
        "cadence_spm": float(steady["cadence_spm"].mean()),
        "stride_length_m": float(steady["stride_length_m"].mean()),
        "walking_speed_mps": float(steady["walking_speed_mps"].mean()),
        "stride_duration_s": float(steady["stride_duration_s"].mean()),
    }
    weights, values = [], []
    for bout in bouts.itertuples():
        cadence = strides.loc[[bout.Index], "cadence_spm"].mean()
        window = slice(int(bout.start), int(bout.end))
        if bout.n_strides < 3 or not np.isfinite(cadence):
            continue
        step = 60.0 / cadence
        weights.append(bout.end - bout.start)
        values.append([*regularity(vertical[window], fs, step),
                       *regularity(antero_posterior[window], fs, step)])
    names = ("step_regularity_v", "stride_regularity_v", "step_symmetry_v",
             "step_regularity_ap", "stride_regularity_ap", "step_symmetry_ap")
    averaged = (np.average(np.array(values), axis=0, weights=weights) if values
                else np.full(len(names), np.nan))
    features.update({name: float(v) for name, v in zip(names, averaged, strict=True)})
    events = strides.assign(steady_state=strides.index.isin(steady.index))
    result = TaskResult("walk", features, signals=signals, events=events,
                        details={"pipeline": pipeline, "sensor_height_m": height})
    if given is None:
        result.flag(f"no SensorHeight for {settings.gait_sensor} in the metadata: {height:g} m "
                    "assumed for stride length and speed")
    if not trimmed_all:
        result.flag("walking bout too short for steady state: all its strides used")
    if not values:
        result.flag("no walking bout of 3 strides or more for regularity")
    return result


def _tilt_corrected(imu: pd.DataFrame, sampling_rate_hz: float,
                    settings: BiomechSettings) -> tuple[np.ndarray, np.ndarray]:
    """Vertical (gravity removed) and horizontal antero-posterior acceleration (m/s²)."""
    acc = imu[list(ACC_COLUMNS)].to_numpy()
    if set(IMU_COLUMNS) <= set(imu.columns):
        quiet = find_static_baseline([imu], sampling_rate_hz, window_s=settings.baseline_window_s,
                                     search_s=settings.baseline_search_s,
                                     still_gyro_dps=settings.still_gyro_dps)
        orientation = estimate_orientation(remove_gyro_offset(imu, quiet), sampling_rate_hz,
                                           method=settings.orientation_method,
                                           beta=settings.madgwick_beta)
        up = orientation.inv().apply([0.0, 0.0, 1.0])
    else:
        up = gravity_direction(acc, sampling_rate_hz)
    vertical = np.sum(acc * up, axis=1)
    anterior = np.array([0.0, 0.0, 1.0]) - up * up[:, 2:3]
    anterior /= np.linalg.norm(anterior, axis=1, keepdims=True)
    return vertical - np.median(vertical), np.sum(acc * anterior, axis=1)


#: Plausible height of a trunk sensor above the floor in upright standing (m).
SENSOR_HEIGHT_RANGE_M = (0.3, 2.0)


def _sensor_height(value: object, recording: ImuRecording) -> float:
    """The recording's ``SensorHeight`` (m); InputError unless a plausible number."""
    low, high = SENSOR_HEIGHT_RANGE_M
    try:
        height = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        height = float("nan")
    if not low <= height <= high:
        raise InputError(f"SensorHeight {value!r} (motion.json metadata) is not a height in "
                         f"metres between {low:g} and {high:g}", participant=recording.participant,
                         session=recording.session, file=recording.source, column="SensorHeight")
    return height
