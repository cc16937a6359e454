"""End-to-end brain extraction: one run, the cohort extractor, bad input, stored connectomes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.imaging import brain
from backpheno.imaging.connectivity import fisher_z, network_summary
from backpheno.imaging.settings import BrainSettings, ConnectivitySettings, QCSettings
from backpheno.imaging.store import load_connectomes, read_connectome
from backpheno.imaging.tangent import TangentSpace
from backpheno.table import make_codebook, make_qc


@pytest.fixture(scope="module")
def default_result(sim_run):
    return brain.extract_run(sim_run.bold, sim_run.confounds, sim_run.mask,
                             gm_probseg=sim_run.gm, wm_probseg=sim_run.wm,
                             csf_probseg=sim_run.csf, participant_id=sim_run.participant_id,
                             session_id="ses-V0")


def test_features_match_the_codebook_and_roles(default_result):
    result = default_result
    assert list(result.features.index) == list(result.codebook.index)
    roles = result.codebook["role"]
    assert set(roles[roles.index.str.startswith("brain.qc.")]) == {"covariate"}
    assert roles["brain.anat.tiv_proxy_ml"] == "covariate"
    assert roles["brain.fc.DefaultMode__Salience"] == "feature"
    assert not any(name.startswith("brain.edge.") for name in result.features.index)
    assert "brain.fc.unassigned__unassigned" not in result.features.index
    qc = result.features.filter(like="brain.qc.")
    assert qc.notna().all()
    assert 0 < qc["brain.qc.mean_fd_mm"] < 1 and qc["brain.qc.tsnr_median"] > 5
    provenance = json.loads(result.codebook["provenance"].iloc[0])
    assert provenance["denoise"]["strategy"] == "scrubbing"
    assert "seitzman2018" in provenance["atlas"]


def test_network_summaries_recomputed_from_the_cleaned_signals(default_result):
    result = default_result
    if result.excluded:
        pytest.skip("run excluded by QC")
    z = fisher_z(np.corrcoef(result.timeseries.dropna(axis=1).to_numpy(), rowvar=False))
    atlas = brain.load_atlas(BrainSettings())
    kept = result.timeseries.columns[result.timeseries.notna().all()]
    networks = atlas.networks.reindex(kept)
    summary = network_summary(z, networks.tolist(), ("unassigned",))
    for pair in ("DefaultMode__Salience", "Salience__SomatomotorDorsal", "Visual__Visual"):
        assert result.features[f"brain.fc.{pair}"] == pytest.approx(summary[pair], abs=1e-10)
    assert result.connectivity.shape == (300, 300)
    assert len(result.timeseries) == result.qc.n_volumes - result.qc.n_censored


def test_alff_and_grey_matter_are_plausible(default_result):
    features = default_result.features
    alff = features.filter(like="brain.alff.")
    falff = features.filter(like="brain.falff.")
    assert alff.notna().all() and (alff > 0).all() and (alff < 5).all()
    assert ((falff > 0) & (falff < 1)).all()
    assert 400 < features["brain.gmv.total"] < 1500
    assert features["brain.anat.tiv_proxy_ml"] > features["brain.gmv.total"]


def test_edges_and_partial_correlation_are_optional(sim_run):
    settings = BrainSettings(connectivity=ConnectivitySettings(kind="partial_correlation",
                                                               edges=True),
                             qc=QCSettings(exclude_flagged_runs=False))
    result = brain.extract_run(sim_run.bold, sim_run.confounds, sim_run.mask, settings=settings)
    edges = result.features.filter(like="brain.pedge.")
    assert len(edges) == 300 * 299 // 2
    assert "brain.pfc.DefaultMode__Salience" in result.features.index
    assert np.allclose(result.connectivity, result.connectivity.T, equal_nan=True)


def test_atlas_label_outside_the_field_of_view_is_flagged_not_silent(sim_run, tmp_path):
    bold = nib.load(str(sim_run.bold))
    labels = np.zeros(bold.shape[:3], dtype=np.int32)
    labels[10:14, 10:14, 10:14] = 1
    labels[0, 0, 0] = 2  # a corner voxel: outside the brain mask
    image = tmp_path / "atlas.nii.gz"
    nib.Nifti1Image(labels, bold.affine).to_filename(image)
    table = tmp_path / "atlas_dseg.tsv"
    pd.DataFrame({"index": [1, 2], "name": ["centre", "corner"],
                  "network": ["A", "B"]}).to_csv(table, sep="\t", index=False)
    settings = BrainSettings.model_validate({"atlas": {"builtin": None, "image": image,
                                                       "table": table}})
    result = brain.extract_run(sim_run.bold, sim_run.confounds, sim_run.mask, settings=settings)
    assert result.qc.roi_coverage["corner"] == 0.0
    flagged = [r for r in result.qc_records if r["item"] == "run: ROI coverage"]
    assert flagged and "corner" in flagged[0]["reason"]
    assert result.features["brain.qc.n_rois_low_coverage"] == 1
    assert np.isnan(result.features["brain.fc.B__B"])
    assert any("network summaries" in r["item"] for r in result.qc_records)


def _copy_run(sim_run, tmp_path: Path) -> dict[str, Path]:
    out = {}
    for key in ("bold", "sidecar", "confounds", "mask"):
        source = getattr(sim_run, key)
        out[key] = tmp_path / source.name
        shutil.copy(source, out[key])
    json_path = sim_run.confounds.with_suffix(".json")
    shutil.copy(json_path, tmp_path / json_path.name)
    return out


def test_bad_input_missing_confounds(sim_run, tmp_path):
    missing = tmp_path / "sub-x_task-rest_desc-confounds_timeseries.tsv"
    with pytest.raises(InputError, match="confounds file not found") as err:
        brain.extract_run(sim_run.bold, missing, sim_run.mask)
    assert missing.name in str(err.value)


def test_bad_input_grid_mismatch(sim_run, tmp_path):
    mask = nib.load(str(sim_run.mask))
    other = tmp_path / "mask.nii.gz"
    nib.Nifti1Image(np.asarray(mask.dataobj)[:-1], mask.affine).to_filename(other)
    with pytest.raises(InputError, match="differs from the BOLD grid") as err:
        brain.extract_run(sim_run.bold, sim_run.confounds, other)
    assert "mask.nii.gz" in str(err.value)


def test_bad_input_3d_image(sim_run):
    with pytest.raises(InputError, match="expected a 4-D BOLD series") as err:
        brain.extract_run(sim_run.mask, sim_run.confounds, sim_run.mask)
    assert sim_run.mask.name in str(err.value)


def test_tr_missing_from_sidecar_comes_from_the_header(sim_run, tmp_path):
    files = _copy_run(sim_run, tmp_path)
    files["sidecar"].write_text(json.dumps({"TaskName": "rest"}), encoding="utf-8")
    img = nib.load(str(files["bold"]))
    img.header.set_xyzt_units("mm", "msec")
    img.header["pixdim"][4] = 2000.0
    nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, img.header).to_filename(
        files["bold"])
    result = brain.extract_run(files["bold"], files["confounds"], files["mask"])
    assert result.provenance["t_r"] == 2.0
    row = next(r for r in result.qc_records if r["item"] == "run: repetition time")
    assert row["status"] == "ok"
    assert "from the NIfTI header (pixdim[4] = 2000 msec)" in row["reason"]
    assert f"{files['sidecar'].name} has no RepetitionTime" in row["reason"]
    img.header["pixdim"][4] = 0.0
    nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, img.header).to_filename(
        files["bold"])
    with pytest.raises(InputError, match="no repetition time.*pass --tr or set brain.t_r") as err:
        brain.extract_run(files["bold"], files["confounds"], files["mask"])
    assert files["sidecar"].name in str(err.value)
    configured = brain.extract_run(files["bold"], files["confounds"], files["mask"],
                                   settings=BrainSettings(t_r=2.0))
    assert configured.provenance["t_r"] == 2.0
    row = next(r for r in configured.qc_records if r["item"] == "run: repetition time")
    assert "TR 2 s as configured (header: pixdim[4] = 0 msec)" in row["reason"]


def test_bad_input_nan_voxels(sim_run, tmp_path):
    files = _copy_run(sim_run, tmp_path)
    img = nib.load(str(files["bold"]))
    data = img.get_fdata(dtype=np.float32)
    mask = np.asarray(nib.load(str(files["mask"])).dataobj) > 0
    inside = np.argwhere(mask)[len(np.argwhere(mask)) // 2]
    data[tuple(inside)][5] = np.nan
    nib.Nifti1Image(data, img.affine).to_filename(files["bold"])
    with pytest.raises(InputError, match="1 voxels inside the brain mask hold NaN") as err:
        brain.extract_run(files["bold"], files["confounds"], files["mask"])
    assert files["bold"].name in str(err.value)


def test_run_failing_qc_is_excluded_and_flagged(sim_run):
    settings = BrainSettings(qc=QCSettings(max_mean_fd_mm=0.01))
    result = brain.extract_run(sim_run.bold, sim_run.confounds, sim_run.mask, settings=settings)
    assert result.excluded
    features = result.codebook.index[result.codebook["role"] == "feature"]
    assert result.features[[f for f in features if not f.startswith("brain.gmv")]].isna().all()
    assert result.features.filter(like="brain.qc.").notna().all()
    run_rows = [r for r in result.qc_records if r["item"] == "run"]
    assert run_rows[0]["status"] == "flagged" and "excluded" in run_rows[0]["reason"]
    kept = brain.extract_run(sim_run.bold, sim_run.confounds, sim_run.mask,
                             settings=BrainSettings(qc=QCSettings(max_mean_fd_mm=0.01,
                                                                  exclude_flagged_runs=False)))
    assert not kept.excluded
    assert np.isfinite(kept.features["brain.fc.DefaultMode__Salience"])
    assert "kept" in [r for r in kept.qc_records if r["item"] == "run"][0]["reason"]


def test_extractor_on_the_simulated_cohort(small_cohort, deep_ids, tmp_path):
    dataset = Dataset(small_cohort)
    settings = BrainSettings(timeseries_dir=tmp_path / "connectomes")
    non_deep = next(p for p in dataset.participant_ids if p not in deep_ids)
    assert brain.EXTRACTOR.find_inputs(dataset, non_deep, "ses-V0", settings) is None
    assert brain.EXTRACTOR.modality == "brain"
    assert brain.EXTRACTOR.settings_model is BrainSettings
    rows, qc, paths = [], [], []
    for pid in deep_ids[:3]:
        inputs = brain.EXTRACTOR.find_inputs(dataset, pid, "ses-V0", settings)
        assert {"run/bold", "run/confounds", "run/mask", "run/sidecar", "anat/gm"} <= set(inputs)
        result = brain.EXTRACTOR.extract(inputs, settings, pid, "ses-V0")
        rows.extend(result.codebook)
        qc.extend(result.qc)
        assert set(result.features) == {r["name"] for r in result.codebook}
        paths.extend(sorted((tmp_path / "connectomes" / pid).glob("*_connectome.npz")))
    codebook = make_codebook(rows)  # identical rows across participants collapse
    assert len(codebook) == len({r["name"] for r in rows})
    assert set(make_qc(qc)["status"]) <= {"ok", "flagged"}
    stored = read_connectome(paths[0])
    assert stored["timeseries"].dtype == np.float32 and stored["t_r"] == 2.0
    assert stored["provenance"]["denoise_strategy"] == "scrubbing"
    names, covariances, regions = load_connectomes(paths)
    assert covariances.shape == (3, len(regions), len(regions))
    embedded = TangentSpace().fit(covariances[:2]).transform(covariances[2:])
    assert embedded.shape == (1, len(regions) * (len(regions) + 1) // 2)


def _partial_dataset(sim_run, root: Path, runs=("",), drop=()) -> Dataset:
    pid = sim_run.participant_id
    pd.DataFrame({"participant_id": [pid], "site": ["s1"], "age": [40], "sex": ["F"],
                  "deep_phenotyping": ["true"]}).to_csv(root / "participants.tsv", sep="\t",
                                                        index=False)
    func = root / "derivatives" / "fmriprep" / pid / "ses-V0" / "func"
    func.mkdir(parents=True)
    sources = [sim_run.bold, sim_run.sidecar, sim_run.confounds,
               sim_run.confounds.with_suffix(".json"), sim_run.mask]
    for run in runs:
        for source in sources:
            name = source.name.replace("_task-rest", f"_task-rest{run}")
            if not any(name.endswith(d) for d in drop):
                (func / name).symlink_to(source)
    return Dataset(root)


def test_find_inputs_names_a_missing_file(sim_run, tmp_path):
    dataset = _partial_dataset(sim_run, tmp_path, drop=("confounds_timeseries.tsv",))
    with pytest.raises(InputError, match="confounds file of .* is missing") as err:
        brain.EXTRACTOR.find_inputs(dataset, sim_run.participant_id, "ses-V0", BrainSettings())
    assert sim_run.participant_id in str(err.value)


def test_two_runs_are_averaged(sim_run, tmp_path, default_result):
    dataset = _partial_dataset(sim_run, tmp_path, runs=("_run-1", "_run-2"))
    settings = BrainSettings(qc=QCSettings(exclude_flagged_runs=False))
    inputs = brain.EXTRACTOR.find_inputs(dataset, sim_run.participant_id, "ses-V0", settings)
    assert {"run-1/bold", "run-2/bold"} <= set(inputs)
    result = brain.EXTRACTOR.extract(inputs, settings, sim_run.participant_id, "ses-V0")
    single = brain.extract_run(sim_run.bold, sim_run.confounds, sim_run.mask, settings=settings)
    value = result.features["brain.fc.DefaultMode__Salience"]
    assert value == pytest.approx(single.features["brain.fc.DefaultMode__Salience"])
    assert result.features["brain.qc.retained_s"] == pytest.approx(
        2 * single.features["brain.qc.retained_s"])
    assert any(r["item"] == "runs" and "2 of 2" in r["reason"] for r in result.qc)


def test_command_line_prints_and_writes_one_run(sim_run, tmp_path):
    from typer.testing import CliRunner

    from backpheno.cli import app

    out = tmp_path / "features.tsv"
    result = CliRunner().invoke(app, ["brain-run", str(sim_run.bold), "--confounds",
                                      str(sim_run.confounds), "--mask", str(sim_run.mask),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "brain.fc.DefaultMode__Salience" in result.output
    table = pd.read_csv(out, sep="\t")
    assert {"name", "role", "unit", "value"} <= set(table.columns)
    bad = CliRunner().invoke(app, ["brain-run", str(sim_run.mask), "--confounds",
                                   str(sim_run.confounds)])
    assert bad.exit_code == 2 and "expected a 4-D BOLD series" in bad.output


def _packaged_run(realdata, tmp_path, name: str) -> tuple[Path, Path, Path]:
    """A real 4-D file without sidecar, a confounds table and a 2-parcel atlas on its grid."""
    bold = realdata / "brain_fmri_small_packaged" / name
    img = nib.load(str(bold))
    n = img.shape[3]
    rng = np.random.default_rng(0)
    columns = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "white_matter", "csf",
               "cosine00", "framewise_displacement"]
    confounds = pd.DataFrame(rng.standard_normal((n, len(columns))), columns=columns)
    confounds["framewise_displacement"] = 0.1
    path = tmp_path / "sub-1_task-rest_desc-confounds_timeseries.tsv"
    confounds.to_csv(path, sep="\t", index=False)
    labels = np.zeros(img.shape[:3], np.int32)
    half = img.shape[0] // 2
    labels[:half] = 1
    labels[half:] = 2
    nib.Nifti1Image(labels, img.affine).to_filename(tmp_path / "atlas.nii.gz")
    pd.DataFrame({"index": [1, 2], "name": ["left", "right"], "network": ["A", "B"]}).to_csv(
        tmp_path / "atlas.tsv", sep="\t", index=False)
    config = tmp_path / "brain.yaml"
    config.write_text(
        f"atlas: {{builtin: null, image: {tmp_path / 'atlas.nii.gz'}, "
        f"table: {tmp_path / 'atlas.tsv'}}}\n"
        "denoise: {strategy: simple, global_signal: null, motion: basic, wm_csf: basic}\n"
        "connectivity: {seeds: [], seed_pairs: []}\n"
        "structural: {enabled: false}\n"
        "qc: {min_retained_seconds: 10}\n", encoding="utf-8")
    return bold, path, config


@pytest.mark.parametrize(("name", "t_r"), [("nipy_functional.nii.gz", 2.0),
                                           ("nitime_fmri1.nii.gz", 1.35)])
def test_command_line_on_real_files_without_sidecar(realdata, tmp_path, name, t_r):
    from typer.testing import CliRunner

    from backpheno.cli import app

    bold, confounds, config = _packaged_run(realdata, tmp_path, name)
    out = tmp_path / "features.tsv"
    result = CliRunner().invoke(app, ["brain-run", str(bold), "--confounds", str(confounds),
                                      "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    stem = name.removesuffix(".nii.gz")
    assert (f"QC ok: run: repetition time: TR {t_r:g} s from the NIfTI header (pixdim[4] = "
            f"{t_r:g} sec); no sidecar {stem}.json") in result.output
    table = pd.read_csv(out, sep="\t").set_index("name")
    assert table.loc["brain.qc.retained_s", "value"] == pytest.approx(
        t_r * nib.load(str(bold)).shape[3])
    assert np.isfinite(table.loc["brain.fc.A__B", "value"])
    override = CliRunner().invoke(app, ["brain-run", str(bold), "--confounds", str(confounds),
                                        "--config", str(config), "--tr", "2.5", "--out",
                                        str(out)])
    assert override.exit_code == 0, override.output
    assert "TR 2.5 s as configured" in override.output
    assert pd.read_csv(out, sep="\t").set_index("name").loc[
        "brain.qc.retained_s", "value"] == pytest.approx(2.5 * nib.load(str(bold)).shape[3])


def test_an_unreadable_run_leaves_the_other_runs(sim_run, tmp_path):
    dataset = _partial_dataset(sim_run, tmp_path, runs=("_run-1", "_run-2"))
    func = tmp_path / "derivatives" / "fmriprep" / sim_run.participant_id / "ses-V0" / "func"
    broken = next(func.glob("*_run-2_*desc-preproc_bold.nii.gz"))
    broken.unlink()
    broken.write_bytes(b"not a NIfTI file")
    settings = BrainSettings(qc=QCSettings(exclude_flagged_runs=False))
    inputs = brain.EXTRACTOR.find_inputs(dataset, sim_run.participant_id, "ses-V0", settings)
    result = brain.EXTRACTOR.extract(inputs, settings, sim_run.participant_id, "ses-V0")
    failed = [r for r in result.qc if r["status"] == "failed"]
    assert [r["item"] for r in failed] == ["run run-2"]
    assert "cannot read BOLD image" in failed[0]["reason"] and broken.name in failed[0]["reason"]
    single = brain.extract_run(sim_run.bold, sim_run.confounds, sim_run.mask, settings=settings)
    assert result.features["brain.fc.DefaultMode__Salience"] == pytest.approx(
        single.features["brain.fc.DefaultMode__Salience"])


def test_a_space_that_is_not_a_template_is_flagged(sim_run, tmp_path):
    dataset = _partial_dataset(sim_run, tmp_path)
    func = tmp_path / "derivatives" / "fmriprep" / sim_run.participant_id / "ses-V0" / "func"
    for link in func.glob("*space-MNI152NLin2009cAsym*"):
        link.rename(link.with_name(link.name.replace("MNI152NLin2009cAsym", "T1w")))
    settings = BrainSettings(structural={"enabled": False})
    inputs = brain.EXTRACTOR.find_inputs(dataset, sim_run.participant_id, "ses-V0", settings)
    result = brain.EXTRACTOR.extract(inputs, settings, sim_run.participant_id, "ses-V0")
    row = next(r for r in result.qc if r["item"] == "inputs")
    assert row["status"] == "flagged"
    assert "space-T1w (default choice" in row["reason"] and "not an MNI template" in row["reason"]
