"""The synthetic motion writer: physical consistency, files, speed and the planted traits."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.transform import Rotation

from backpheno.biomech import EXTRACTOR, BiomechSettings
from backpheno.biomech.extractor import extract_session, read_task
from backpheno.biomech.features import feature_names
from backpheno.biomech.io import find_motion_files
from backpheno.dataset import MOTION_TASKS, Dataset
from backpheno.synth import motion
from backpheno.synth.base import ParticipantSpec
from backpheno.synth.config import SimulateConfig


def test_gyroscope_is_the_derivative_of_the_simulated_orientation():
    """Integrating the noise-free gyroscope reproduces the planted pelvis rotation."""
    recording, truth = motion.trunk_task("lateralleft", repetitions=1, jerk=0.0,
                                         noise=motion.SensorNoise().scaled(0.0),
                                         s1_tilt_deg=0.0, rng=np.random.default_rng(0))
    gyro = np.radians(recording.sensors["S1"][["gyr_x", "gyr_y", "gyr_z"]].to_numpy())
    rotation = Rotation.identity()
    peak = 0.0
    for omega in gyro[:-1]:
        rotation = rotation * Rotation.from_rotvec(omega / 100.0)
        superior = rotation.apply([1.0, 0.0, 0.0])
        peak = max(peak, np.degrees(np.arcsin(-superior[1])))  # lean to the left (-y)
    assert peak == pytest.approx(truth.pelvis_rom_deg, abs=0.3)


def test_accelerometer_reads_gravity_at_rest_and_linear_acceleration_in_motion():
    recording = motion.walk(noise=motion.SensorNoise().scaled(0.0), s1_tilt_deg=20.0,
                            rng=np.random.default_rng(0))
    acc = recording.sensors["S1"][["acc_x", "acc_y", "acc_z"]].to_numpy()
    rest = acc[:100]
    np.testing.assert_allclose(np.linalg.norm(rest, axis=1), 9.81, atol=1e-6)
    # the sensor's top leans back 20 deg: "up" gains a component on its anterior axis (z)
    assert rest[0, 2] == pytest.approx(9.81 * np.sin(np.radians(20)), abs=1e-6)
    walking = np.linalg.norm(acc[800:2000], axis=1)
    assert walking.std() > 0.5  # vertical and AP oscillation at the step frequency


def test_written_participant_has_every_task(tmp_path):
    config = SimulateConfig(motion={"repetitions": 2, "walk_duration_s": 20.0})
    spec = ParticipantSpec("sub-007", "ses-V0", "site01", 50.0, "M", 27.0,
                           {"fear_avoidance": 0.5, "mechanical": -0.3}, {}, 0, 6)
    motion.write_static(tmp_path, config)
    started = time.perf_counter()
    motion.write_participant(spec, tmp_path, config)
    elapsed = time.perf_counter() - started
    print(f"one participant, all {len(MOTION_TASKS)} tasks simulated and written: {elapsed:.3f} s")
    folder = tmp_path / "sub-007" / "ses-V0" / "motion"
    files = find_motion_files(folder, "sub-007", "ses-V0", MOTION_TASKS)
    assert sorted(files) == sorted(MOTION_TASKS)
    settings = BiomechSettings()
    flexion = read_task(files["flexion"], "flexion", settings)
    assert set(flexion.sensors) == {"T12", "S1"} and flexion.sampling_rate_hz == 100.0
    sidecar = json.loads((folder / "sub-007_ses-V0_tracksys-imu_motion.json").read_text())
    assert 0.7 < sidecar["SensorHeight"]["S1"] < 1.2
    result, details = extract_session(files, settings.model_copy(
        update={"expected_repetitions": 2}), "sub-007", "ses-V0")
    assert details["flexion"].features["n_repetitions"] == 2
    assert all(row["status"] == "ok" for row in result.qc), result.qc


def test_same_spec_gives_identical_files(tmp_path):
    config = SimulateConfig()
    spec = ParticipantSpec("sub-001", "ses-V0", "site01", 40.0, "F", 25.0, {}, {}, 3, 0)
    for name in ("a", "b"):
        motion.write_participant(spec, tmp_path / name, config)
    path = "sub-001/ses-V0/motion/sub-001_ses-V0_task-walk_tracksys-imu_motion.tsv"
    assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()


def test_fixed_point_tsv_round_trips():
    values = np.array([[-0.0, 1234.5, -0.000004], [9.81, -12.345678, 0.5]])
    text = motion.fixed_point_tsv(values).decode()
    assert text.splitlines()[0] == "+0000.00000\t+1234.50000\t-0000.00000"
    back = np.array([[float(v) for v in line.split("\t")] for line in text.splitlines()])
    np.testing.assert_allclose(back, values, atol=5e-6)
    with pytest.raises(ValueError):
        motion.fixed_point_tsv(np.array([[1e4]]))


def test_fear_avoidance_shows_in_range_of_motion_and_velocity(small_cohort):
    """The planted trait lowers ROM and angular velocity across the simulated deep cohort."""
    dataset = Dataset(small_cohort)
    truth = json.loads((small_cohort / "ground_truth.json").read_text())
    traits = {p["participant_id"]: p["traits"] for p in truth["participants"]}
    settings = BiomechSettings(tasks=["flexion", "rotationleft"])
    rows = []
    for pid in dataset.participant_ids:
        inputs = EXTRACTOR.find_inputs(dataset, pid, "ses-V0", settings)
        if inputs is None:
            continue
        result, _ = extract_session(inputs, settings, pid, "ses-V0")
        rows.append({"fear_avoidance": traits[pid]["fear_avoidance"], **result.features})
    table = pd.DataFrame(rows)
    assert len(table) >= 10
    fear = table["fear_avoidance"]
    correlations = {name: fear.corr(table[name]) for name in (
        "biomech.flexion.thoracolumbar_rom_deg", "biomech.flexion.lumbar_rom_deg",
        "biomech.flexion.peak_velocity_dps", "biomech.rotationleft.thoracolumbar_rom_deg",
        "biomech.rotationleft.peak_velocity_dps", "biomech.flexion.sparc")}
    print(f"n = {len(table)} deep participants; Pearson r with fear_avoidance:")
    for name, r in correlations.items():
        print(f"  {name}: {r:+.2f}")
    for name in ("biomech.flexion.thoracolumbar_rom_deg", "biomech.flexion.peak_velocity_dps",
                 "biomech.rotationleft.thoracolumbar_rom_deg",
                 "biomech.rotationleft.peak_velocity_dps"):
        assert correlations[name] < -0.4, name
    assert set(truth["traits"]["fear_avoidance"]["drives"]) >= {
        "biomech.flexion.thoracolumbar_rom_deg", "biomech.flexion.peak_velocity_dps"}


def test_drives_name_features_the_extractor_emits():
    emitted = set(feature_names(list(MOTION_TASKS)))
    for trait, names in motion.DRIVES.items():
        assert names and set(names) <= emitted, (trait, set(names) - emitted)
