"""XCP-D outputs as input: readers, file discovery and the shared feature columns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.imaging import brain, xcpd
from backpheno.imaging.connectivity import partial_correlation_matrix
from backpheno.imaging.settings import BrainSettings

from .xcpd_helpers import NODES, parcels, write_cifti_session


def _write_xcpd(root, pid="sub-01", entity="seg", atlas="4S156Parcels", matrix=None,
                nodes=NODES):
    func = root / "derivatives" / "xcp_d" / pid / "ses-V0" / "func"
    func.mkdir(parents=True, exist_ok=True)
    if matrix is None:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((100, len(nodes)))
        matrix = np.corrcoef(x, rowvar=False)
    frame = pd.DataFrame(matrix, index=pd.Index(nodes, name="Node"), columns=nodes)
    stem = f"{pid}_ses-V0_task-rest"
    relmat = func / (f"{stem}_space-MNI152NLin2009cAsym_{entity}-{atlas}"
                     "_stat-pearsoncorrelation_relmat.tsv")
    frame.to_csv(relmat, sep="\t", na_rep="n/a")
    pd.DataFrame({"mean_fd": [0.12], "num_censored_volumes": [10], "num_retained_volumes": [190],
                  "num_dummy_volumes": [0]}).to_csv(
        func / f"{stem}_space-MNI152NLin2009cAsym_desc-linc_qc.tsv", sep="\t", index=False)
    (func / f"{stem}_space-MNI152NLin2009cAsym_desc-denoised_bold.json").write_text(
        json.dumps({"RepetitionTime": 0.8}), encoding="utf-8")
    pd.DataFrame({"participant_id": [pid], "site": ["a"], "age": [30], "sex": ["M"],
                  "deep_phenotyping": ["true"]}).to_csv(root / "participants.tsv", sep="\t",
                                                        index=False)
    return relmat, matrix


@pytest.mark.parametrize("entity", ["seg", "atlas"])
def test_xcpd_session_features(tmp_path, entity):
    relmat, matrix = _write_xcpd(tmp_path, entity=entity)
    settings = BrainSettings(input="xcpd", xcpd_atlas="4S156Parcels")
    inputs = brain.EXTRACTOR.find_inputs(Dataset(tmp_path), "sub-01", "ses-V0", settings)
    assert inputs["relmat/task"] == relmat and "qc/task" in inputs and "sidecar/task" in inputs
    result = brain.EXTRACTOR.extract(inputs, settings, "sub-01", "ses-V0")
    z = np.arctanh(np.where(np.eye(len(matrix), dtype=bool), 0.0, matrix))
    assert result.features["brain.fc.Vis__Vis"] == pytest.approx(z[0, 1])
    assert result.features["brain.fc.Default__Vis"] == pytest.approx(z[:2, 2:].mean())
    assert result.features["brain.fc.Default__Default"] == pytest.approx(
        np.mean([z[2, 3], z[2, 4], z[3, 4]]))
    assert result.features["brain.qc.mean_fd_mm"] == 0.12
    assert result.features["brain.qc.pct_censored"] == pytest.approx(5.0)
    assert result.features["brain.qc.retained_s"] == pytest.approx(190 * 0.8)
    assert np.isnan(result.features["brain.seed.mpfc__nacc"])
    assert any(r["status"] == "missing" and "voxel-based" in r["item"] for r in result.qc)
    roles = {r["name"]: r["role"] for r in result.codebook}
    assert roles["brain.qc.mean_fd_mm"] == "covariate"


def test_xcpd_matrix_gives_the_same_summaries_as_the_fmriprep_path(sim_run, tmp_path):
    run = brain.extract_run(sim_run.bold, sim_run.confounds, sim_run.mask,
                            settings=BrainSettings(qc={"exclude_flagged_runs": False}))
    names = list(run.connectivity.index)
    _write_xcpd(tmp_path, matrix=run.connectivity.to_numpy(), nodes=names)
    settings = BrainSettings(input="xcpd", xcpd_atlas="4S156Parcels")
    inputs = xcpd.find_inputs(Dataset(tmp_path), "sub-01", "ses-V0", settings)
    result = brain.EXTRACTOR.extract(inputs, settings, "sub-01", "ses-V0")
    for name in ("brain.fc.DefaultMode__Salience", "brain.fc.Visual__Visual"):
        assert np.isfinite(run.features[name])
        assert result.features[name] == pytest.approx(run.features[name], abs=1e-9)


def test_readers_reject_malformed_files(tmp_path):
    path = tmp_path / "x_relmat.tsv"
    pd.DataFrame({"Node": ["a", "b"], "a": [1.0, 0.2]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match="not a square"):
        xcpd.read_relmat(path)
    settings = BrainSettings(input="xcpd", xcpd_atlas="Other")
    _write_xcpd(tmp_path)
    with pytest.raises(InputError, match="no XCP-D outputs for atlas Other.*atlases found: "
                                         "4S156Parcels"):
        xcpd.find_inputs(Dataset(tmp_path), "sub-01", "ses-V0", settings)
    assert xcpd.find_inputs(Dataset(tmp_path), "sub-02", "ses-V0", settings) is None
    with pytest.raises(ValueError, match="xcpd_atlas"):
        BrainSettings(input="xcpd")


# --- XCP-D's own expected output names (xcpd_output_names) --------------------------------------

NAME = re.compile(r"^(?P<sub>sub-[A-Za-z0-9]+)(?:_(?P<ses>ses-[A-Za-z0-9]+))?_task-(?P<task>"
                  r"[A-Za-z0-9]+)(?:_(?P<acq>acq-[A-Za-z0-9]+))?(?:_(?P<run>run-[0-9]+))?"
                  r"_space-(?P<space>[A-Za-z0-9]+)(?:_cohort-[0-9]+)?(?:_atlas-(?P<atlas>"
                  r"[A-Za-z0-9]+))?(?:_den-91k)?_(?P<what>.+)$")
#: Name endings → input kind (only the full matrices: ``desc-<n>volumes`` ones are skipped).
ENDINGS = {
    "stat-pearsoncorrelation_relmat.tsv": "relmat",
    "stat-pearsoncorrelation_boldmap.pconn.nii": "pconn",
    "stat-mean_timeseries.tsv": "timeseries",
    "stat-mean_timeseries.ptseries.nii": "ptseries",
    "stat-alff_bold.tsv": "alff",
    "stat-reho_bold.tsv": "reho",
    "stat-coverage_bold.tsv": "coverage",
    "desc-linc_qc.tsv": "qc",
}


def _expected_files(names: list[str]) -> list[dict]:
    """Every matrix, time-series, parcel-table and QC file of a list, parsed by this test."""
    rows = []
    for line in names:
        match = NAME.match(Path(line).name)
        if match and match["what"] in ENDINGS:
            label = "_".join(p for p in (match["acq"], match["run"]) if p) or "task"
            rows.append({**match.groupdict(), "kind": ENDINGS[match["what"]], "label": label,
                         "path": line})
    return rows


def _touch_tree(root: Path, names: list[str]) -> Path:
    folders = {str(Path(n).parent) for n in names}
    xcpd = root / "derivatives" / "xcp_d"
    for name in names:
        if name not in folders:
            (xcpd / name).parent.mkdir(parents=True, exist_ok=True)
            (xcpd / name).touch()
    return xcpd


@pytest.mark.parametrize("listing", [
    "test_ds001419_cifti_outputs.txt", "test_ds001419_nifti_outputs.txt",
    "test_fmriprep_without_freesurfer_outputs.txt", "test_nibabies_outputs.txt",
    "test_pnc_cifti_outputs.txt", "test_ukbiobank_outputs.txt"])
def test_every_xcpd_output_is_attributed(realdata, tmp_path, listing):
    names = (realdata / "xcpd_output_names" / listing).read_text().split()
    tree = _touch_tree(tmp_path, names)
    pids = sorted({n.split("/")[0] for n in names if n.startswith("sub-") and "/" in n})
    pd.DataFrame({"participant_id": pids, "site": "a", "age": 30, "sex": "F",
                  "deep_phenotyping": "true"}).to_csv(tmp_path / "participants.tsv", sep="\t",
                                                      index=False)
    dataset = Dataset(tmp_path)
    files = _expected_files(names)
    assert files, listing
    combos = {(f["sub"], f["ses"], f["task"], f["space"], f["atlas"]) for f in files
              if f["atlas"]}
    if not combos:  # NIfTI run without atlases: only QC tables, nothing to read connectivity from
        qc = next(f for f in files if f["kind"] == "qc")
        with pytest.raises(InputError, match="atlases found: none"):
            xcpd.find_inputs(dataset, qc["sub"], qc["ses"] or "ses-V0",
                             BrainSettings(input="xcpd", xcpd_atlas="4S156Parcels",
                                           task=qc["task"]))
        return
    attributed = set()
    for sub, ses, task, space, atlas in sorted(combos, key=str):
        settings = BrainSettings(input="xcpd", xcpd_atlas=atlas, task=task, space=space)
        inputs = xcpd.find_inputs(dataset, sub, ses or "ses-V0", settings)
        expected = {f"{f['kind']}/{f['label']}": tree / f["path"] for f in files
                    if (f["sub"], f["ses"], f["task"], f["space"]) == (sub, ses, task, space)
                    and f["atlas"] in (atlas, None)}
        got = {k: v for k, v in inputs.items() if not k.startswith("sidecar/")}
        assert got == expected, (sub, ses, task, space, atlas)
        assert all(f"_space-{space}_" in p.name for p in inputs.values())
        attributed.update(str(p) for p in got.values())
    assert attributed == {str(tree / f["path"]) for f in files}


def test_cifti_session_from_pconn_ptseries_and_parcel_tables(tmp_path):
    rng = np.random.default_rng(3)
    runs = {"run-01": rng.standard_normal((60, len(NODES))),
            "run-02": rng.standard_normal((40, len(NODES)))}
    write_cifti_session(tmp_path, {**runs, "task": np.vstack(list(runs.values()))})
    settings = BrainSettings(input="xcpd", xcpd_atlas="4S156Parcels", sessionless_as="ses-V0",
                             timeseries_dir=tmp_path / "connectomes")
    inputs = brain.EXTRACTOR.find_inputs(Dataset(tmp_path), "sub-01", "ses-V0", settings)
    assert {"pconn/task", "ptseries/task", "ptseries/run-01", "qc/run-02", "alff/run-02",
            "coverage/run-01"} <= set(inputs)
    result = brain.EXTRACTOR.extract(inputs, settings, "sub-01", "ses-V0")
    r = np.corrcoef(np.vstack(list(runs.values())), rowvar=False)
    z = np.arctanh(np.where(np.eye(len(NODES), dtype=bool), 0.0, r))
    f = result.features
    assert f["brain.fc.Vis__Vis"] == pytest.approx(z[0, 1])
    assert f["brain.fc.Default__Vis"] == pytest.approx(z[:2, 2:].mean())
    # ALFF: run means per node (run-02 is shifted by 1), then network means
    assert f["brain.alff_xcpd.Vis"] == pytest.approx(np.mean([1.5, 3.5]))
    assert f["brain.alff_xcpd.Default"] == pytest.approx(np.mean([2.5, 4.5, 6.5]))
    assert f["brain.reho.Default"] == pytest.approx(np.mean([0.5, 0.6]))
    assert f["brain.qc.roi_coverage_mean"] == pytest.approx(np.mean([1.0, 0.9, 0.3, 1.0, 0.2]))
    assert f["brain.qc.n_rois_low_coverage"] == 2
    assert f["brain.qc.mean_fd_mm"] == pytest.approx((0.1 * 70 + 0.3 * 50) / 120)
    assert f["brain.qc.n_censored"] == 20
    assert f["brain.qc.retained_s"] == pytest.approx(100 * 0.8)  # TR from the ptseries step
    assert any(r["item"] == "xcpd" and "space-fsLR (chosen by default)" in r["reason"]
               for r in result.qc)
    codebook = {r["name"]: r for r in result.codebook}
    assert set(f) == set(codebook)
    assert codebook["brain.reho.Default"]["unit"] == "Kendall's W"
    stored = sorted((tmp_path / "connectomes" / "sub-01").glob("*.npz"))
    assert len(stored) == 3

    partial = BrainSettings(input="xcpd", xcpd_atlas="4S156Parcels",
                            connectivity={"kind": "partial_correlation"})
    result = brain.EXTRACTOR.extract(inputs, partial, "sub-01", "ses-V0")
    whole = np.vstack(list(runs.values()))
    expected = partial_correlation_matrix(whole)
    assert result.features["brain.pfc.Vis__Vis"] == pytest.approx(np.arctanh(expected[0, 1]))
    assert "brain.fc.Vis__Vis" not in result.features


def test_pconn_and_ptseries_readers(tmp_path):
    axis = parcels(NODES)
    path = tmp_path / "x.pconn.nii"
    nib.Cifti2Image(np.eye(len(NODES)), nib.cifti2.Cifti2Header.from_axes(
        (axis, axis))).to_filename(path)
    assert list(xcpd.read_pconn(path).index) == NODES
    with pytest.raises(InputError, match="not a series × parcel"):
        xcpd.read_timeseries(path.rename(tmp_path / "x.ptseries.nii"))
