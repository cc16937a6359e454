"""Reading BIDS motion and CSV recordings: units, axes, inheritance and every bad-input error."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from biomech_helpers import imu_channels, write_motion

from backpheno.biomech.io import (
    find_motion_files,
    read_bids_motion,
    read_csv_recording,
    spatial_axes_matrix,
)
from backpheno.errors import InputError
from backpheno.synth import motion

FS = {"SamplingFrequency": 100.0}


def test_round_trip_of_simulated_recording(tmp_path):
    recording, _ = motion.trunk_task("flexion", repetitions=1, rng=np.random.default_rng(3))
    path = motion.write_recording(tmp_path, "sub-01", "ses-V0", "flexion", recording)
    back = read_bids_motion(path)
    assert back.task == "flexion" and back.participant == "sub-01" and back.session == "ses-V0"
    assert back.sampling_rate_hz == 100.0
    for point in ("T12", "S1"):
        # written with 5 decimals, gyroscope in rad/s: 1e-5 rad/s = 6e-4 deg/s
        np.testing.assert_allclose(back.imu(point).to_numpy(),
                                   recording.sensors[point].to_numpy(), atol=1e-3)


def test_units_are_normalised(tmp_path, still_values):
    values = still_values.copy()
    values[:, [0, 1, 2, 6, 7, 8]] /= 9.80665  # accelerometers in g
    values[:, [3, 4, 5, 9, 10, 11]] = np.deg2rad(values[:, [3, 4, 5, 9, 10, 11]])
    path = write_motion(tmp_path, values, imu_channels(acc_unit="g", gyr_unit="rad/s"), FS)
    back = read_bids_motion(path)
    np.testing.assert_allclose(back.imu("T12").to_numpy(), still_values[:, :6], atol=1e-9)


def test_spatial_axes_are_mapped_to_the_canonical_frame(tmp_path, still_values):
    # file axes: x anterior, y left, z superior ("ALS"): an upright sensor reads +g on z
    values = still_values[:, :6].copy()
    als = np.column_stack([values[:, 2], -values[:, 1], values[:, 0],
                           values[:, 5], -values[:, 4], values[:, 3]])
    channels = [dict(row, reference_frame="local") for row in imu_channels(points=("S1",))]
    reference = {"reference_frame": {"Levels": {"local": {"SpatialAxes": "ALS"}}}}
    path = write_motion(tmp_path, als, channels, FS, channels_json=reference)
    back = read_bids_motion(path)
    np.testing.assert_allclose(back.imu("S1").to_numpy(), values, atol=1e-12)


def test_spatial_axes_matrix_rejects_bad_strings():
    np.testing.assert_array_equal(spatial_axes_matrix("SRA"), np.eye(3))
    with pytest.raises(InputError, match="left-handed"):
        spatial_axes_matrix("SLA")
    with pytest.raises(InputError, match="each anatomical axis once"):
        spatial_axes_matrix("SSA")
    with pytest.raises(InputError, match="three letters"):
        spatial_axes_matrix("XYZ")


def test_sidecars_are_inherited(tmp_path, still_values):
    root = tmp_path / "ds"
    folder = root / "sub-01" / "ses-V0" / "motion"
    folder.mkdir(parents=True)
    (root / "dataset_description.json").write_text("{}")
    pd.DataFrame(imu_channels()).to_csv(root / "tracksys-imu_channels.tsv", sep="\t", index=False)
    (root / "task-flexion_tracksys-imu_motion.json").write_text(json.dumps(FS))
    (folder / "sub-01_ses-V0_tracksys-imu_motion.json").write_text(
        json.dumps({"SensorHeight": {"S1": 0.9}}))
    path = folder / "sub-01_ses-V0_task-flexion_tracksys-imu_motion.tsv"
    pd.DataFrame(still_values).to_csv(path, sep="\t", header=False, index=False)
    assert find_motion_files(folder, "sub-01", "ses-V0", ["flexion", "walk"]) == {"flexion": path}
    back = read_bids_motion(path)
    assert back.sampling_rate_hz == 100.0 and back.metadata["SensorHeight"] == {"S1": 0.9}
    assert set(back.sensors) == {"T12", "S1"}


def test_short_gaps_are_interpolated_and_reported(tmp_path, still_values):
    values = still_values.copy()
    values[100:105, 0] = np.nan  # 0.05 s
    back = read_bids_motion(write_motion(tmp_path, values, imu_channels(), FS), max_gap_s=0.1)
    assert np.isfinite(back.imu("T12").to_numpy()).all()
    assert back.notes and "T12_acc_x" in back.notes[0]


@pytest.mark.parametrize("case, message, column", [
    ("long_gap", "gap of 0.50 s", "S1_gyr_y"),
    ("missing_channel", "missing GYRO channel, component z", "S1 GYRO z"),
    ("unknown_unit", "unknown ACCEL unit 'furlong/s^2'", "T12_acc_x"),
    ("low_rate", "below the 50 Hz", "SamplingFrequency"),
    ("no_rate", "SamplingFrequency must be a number", "SamplingFrequency"),
    ("duration", "RecordingDuration is 6.00 s", "SamplingFrequency"),
    ("columns", "columns but channels.tsv lists", None),
])
def test_bad_input_names_file_and_channel(tmp_path, still_values, case, message, column):
    values, channels, sidecar = still_values.copy(), imu_channels(), dict(FS)
    if case == "long_gap":
        values[50:100, 10] = np.nan
    elif case == "missing_channel":
        channels, values = channels[:-1], values[:, :-1]
    elif case == "unknown_unit":
        channels[0]["units"] = "furlong/s^2"
    elif case == "low_rate":
        sidecar["SamplingFrequency"] = 20
    elif case == "no_rate":
        sidecar = {"TaskName": "flexion"}
    elif case == "duration":
        sidecar["RecordingDuration"] = 6.0  # 300 samples at 100 Hz are 3 s: wrong rate
    elif case == "columns":
        values = values[:, :-2]
    path = write_motion(tmp_path, values, channels, sidecar)
    with pytest.raises(InputError, match=re.escape(message)) as info:
        read_bids_motion(path, required_points=["T12", "S1"])
    assert info.value.file is not None and info.value.participant == "sub-01"
    assert info.value.column == column


def _with_latency(values: np.ndarray, stamps: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    channels = [*imu_channels(), {"name": "time", "component": "n/a", "type": "LATENCY",
                                  "tracked_point": "n/a", "units": "ms"}]
    return np.column_stack([values, stamps * 1e3]), channels


def test_irregular_timestamps_are_an_error(tmp_path, still_values):
    stamps = np.arange(len(still_values)) / 100.0
    stamps[150:] += 0.02  # two samples lost
    values, channels = _with_latency(still_values, stamps)
    with pytest.raises(InputError, match="irregular timestamps: step of 30.0 ms at t=1.49 s") as e:
        read_bids_motion(write_motion(tmp_path, values, channels, FS))
    assert e.value.column == "time"


def test_sampling_frequency_disagreeing_with_timestamps_is_an_error(tmp_path, still_values):
    values, channels = _with_latency(still_values, np.arange(len(still_values)) / 200.0)
    with pytest.raises(InputError, match="timestamps give 200.000 Hz"):
        read_bids_motion(write_motion(tmp_path, values, channels, FS))
    regular, channels = _with_latency(still_values, np.arange(len(still_values)) / 100.0)
    assert read_bids_motion(write_motion(tmp_path, regular, channels, FS)).n_samples == 300


def test_missing_sidecar_is_an_error(tmp_path, still_values):
    path = write_motion(tmp_path, still_values, imu_channels(), FS)
    path.with_name(path.name.replace("_motion.tsv", "_motion.json")).unlink()
    with pytest.raises(InputError, match="motion.json"):
        find_motion_files(tmp_path, "sub-01", "ses-V0", ["flexion"])
    with pytest.raises(InputError, match="file not found"):
        read_bids_motion(path)


def test_csv_matches_the_mobgap_matlab_loader(realdata):
    """The CSV copy (acc in g) read with declared units equals mobgap's data.mat reading.

    mobgap's conversion script divided by 9.8033 m/s² per g rather than standard gravity
    (9.80665), so the two differ by a constant 0.034 %.
    """
    from mobgap.data import GenericMobilisedDataset

    root = realdata / "mobgap_mobilised_lab" / "example_data"
    columns = {c: c for c in ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")}
    csv = read_csv_recording(root / "data_csv" / "HA" / "001" / "TimeMeasure1_Test5_Trial1.csv",
                             columns=columns, acc_unit="g", gyr_unit="deg/s",
                             sampling_rate_hz=100.0)
    dataset = GenericMobilisedDataset([root / "data" / "lab" / "HA" / "001" / "data.mat"],
                                      test_level_names=("time_measure", "test", "trial"),
                                      measurement_condition="laboratory")
    trial = dataset.get_subset(test="Test5", trial="Trial1")
    np.testing.assert_allclose(csv.imu("S1").to_numpy(), trial.data_ss[list(columns)].to_numpy(),
                               rtol=4e-4, atol=1e-6)


def test_csv_sampling_rate_from_timestamps(realdata):
    path = realdata / "skdh_lumbar_imu" / "example_data_2min.csv"
    columns = {"acc_x": 1, "acc_y": 2, "acc_z": 3, "gyr_x": 4, "gyr_y": 5, "gyr_z": 6}
    recording = read_csv_recording(path, columns=columns, acc_unit="g", gyr_unit="deg/s",
                                   time_column=0, header=False)
    assert recording.sampling_rate_hz == pytest.approx(98.04, abs=0.05)
    assert recording.duration_s == pytest.approx(105.7, abs=0.5)
    with pytest.raises(InputError, match="SamplingFrequency 100 Hz but the timestamps give 98.0"):
        read_csv_recording(path, columns=columns, acc_unit="g", gyr_unit="deg/s",
                           time_column=0, header=False, sampling_rate_hz=100.0)
    with pytest.raises(InputError, match="declared columns not in the file"):
        read_csv_recording(path, columns={**columns, "acc_x": 9}, acc_unit="g",
                           gyr_unit="deg/s", time_column=0, header=False)
