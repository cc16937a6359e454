"""Processing time of the biomechanics extractor per hour of two-sensor 100 Hz recording.

Builds long synthetic recordings (trunk movement repetitions, five-times sit-to-stand cycles,
straight walking) and times each stage, scaled to one hour of recording. Where a stage wraps a
reference implementation the same data go through the reference alone in the same run:

* orientation: mobgap's numba Madgwick (used) vs the ``ahrs`` package's pure-Python Madgwick;
* walking: ``gait_features`` (mobgap pipeline + steady state + regularity) vs mobgap's
  ``MobilisedPipelineHealthy`` alone.

Run: ``PYTHONPATH=src python benchmarks/bench_biomech.py [--minutes 5]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from backpheno.biomech.angles import trunk_angles
from backpheno.biomech.gait import gait_features, run_mobgap
from backpheno.biomech.io import ImuRecording
from backpheno.biomech.orientation import estimate_orientation
from backpheno.biomech.settings import BiomechSettings
from backpheno.biomech.sts import sit_to_stand_features
from backpheno.biomech.tasks import trunk_task_features
from backpheno.synth import motion

FS = 100.0


def repeat(recording: ImuRecording, minutes: float, task: str) -> ImuRecording:
    """Tile a recording to ``minutes`` long (the baseline of the first copy stays at the start)."""
    copies = int(np.ceil(minutes * 60 * FS / recording.n_samples))
    sensors = {p: pd.concat([d] * copies, ignore_index=True) for p, d in recording.sensors.items()}
    return ImuRecording(sensors, FS, task=task, metadata={"SensorHeight": {"S1": 0.95}})


def timed(function, *args, repeats: int = 1, **kwargs) -> float:
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        function(*args, **kwargs)
        best = min(best, time.perf_counter() - started)
    return best


def main(minutes: float) -> None:
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    flexion, _ = motion.trunk_task("flexion", repetitions=10, rng=rng)
    trunk = repeat(flexion, minutes, "flexion")
    sts = repeat(motion.sit_to_stand(rises=5, rng=rng), minutes, "sittostand")
    walk = motion.walk(duration_s=minutes * 60, rng=rng)
    walk = ImuRecording(walk.sensors, FS, task="walk", metadata={"SensorHeight": {"S1": 0.95}})
    hours = trunk.duration_s / 3600
    settings = BiomechSettings(expected_repetitions=None)

    # warm the numba JIT and mobgap's imports outside the timings
    short = ImuRecording({p: d.iloc[:3000] for p, d in trunk.sensors.items()}, FS)
    trunk_task_features(short, "flexion", settings)
    gait_features(ImuRecording({p: d.iloc[:3000] for p, d in walk.sensors.items()}, FS), settings)

    one_sensor = trunk.sensors["T12"]
    ahrs_minutes = min(minutes, 1.0)
    ahrs_part = one_sensor.iloc[: int(ahrs_minutes * 60 * FS)]
    rows = [
        ("orientation, mobgap numba Madgwick (1 sensor)",
         timed(estimate_orientation, one_sensor, FS, repeats=3) / hours, None),
        ("orientation, ahrs Madgwick (1 sensor, reference)",
         timed(estimate_orientation, ahrs_part, FS, method="ahrs_madgwick") / (ahrs_minutes / 60),
         None),
        ("trunk angles (2 sensors: filter, baseline, lumbar)",
         timed(trunk_angles, trunk.sensors["T12"], trunk.sensors["S1"], FS, repeats=2) / hours,
         None),
        ("trunk task features (angles + repetitions + smoothness)",
         timed(trunk_task_features, trunk, "flexion", settings, repeats=2) / hours, None),
        ("sit-to-stand features",
         timed(sit_to_stand_features, sts, settings, repeats=2) / hours, None),
        ("walking: mobgap MobilisedPipelineHealthy alone (reference)",
         timed(run_mobgap, walk.sensors["S1"], FS, sensor_height_m=0.95, repeats=2) / hours,
         None),
        ("walking: gait_features (mobgap + steady state + regularity)",
         timed(gait_features, walk, settings, repeats=2) / hours, None),
    ]
    table = pd.DataFrame(rows, columns=["stage", "seconds_per_hour", "ratio"]).set_index("stage")
    ahrs = table.loc["orientation, ahrs Madgwick (1 sensor, reference)", "seconds_per_hour"]
    mobgap = table.loc["orientation, mobgap numba Madgwick (1 sensor)", "seconds_per_hour"]
    reference = table.loc["walking: mobgap MobilisedPipelineHealthy alone (reference)",
                         "seconds_per_hour"]
    ours = table.loc["walking: gait_features (mobgap + steady state + regularity)",
                    "seconds_per_hour"]
    table["ratio"] = ""
    table.loc["orientation, mobgap numba Madgwick (1 sensor)", "ratio"] = (
        f"{ahrs / mobgap:.0f}x faster than ahrs")
    table.loc["walking: gait_features (mobgap + steady state + regularity)", "ratio"] = (
        f"{ours / reference:.2f}x the mobgap pipeline alone")
    per_session = sum(table.loc[[
        "trunk task features (angles + repetitions + smoothness)", "sit-to-stand features",
        "walking: gait_features (mobgap + steady state + regularity)"], "seconds_per_hour"]) / 3
    print(f"Biomechanics processing time per hour of two-sensor {FS:.0f} Hz recording "
          f"(measured on {minutes:g} min, scaled; ahrs on {ahrs_minutes:g} min):")
    with pd.option_context("display.width", 160, "display.max_colwidth", 70):
        print(table.round({"seconds_per_hour": 2}).to_string())
    print(f"mean over trunk, sit-to-stand and walking features: {per_session:.1f} s per hour "
          f"of recording ({3600 / per_session:.0f}x real time)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0,
                        help="length of each synthetic recording (default 5)")
    main(parser.parse_args().minutes)
