"""A one-pass parcellation kernel equal to nilearn's label and sphere maskers.

nilearn's :class:`~nilearn.maskers.NiftiLabelsMasker` calls :func:`scipy.ndimage.mean` once per
volume and copies every F-ordered volume to C order first; that loop is ~85 % of its run time.
Here regions are compiled once into flat voxel indices on the data grid (:class:`Regions`), and the
4-D image is read in blocks of volumes in its native Fortran order: a block of volumes is a
contiguous ``(volumes, voxels)`` C-ordered view, the voxels used by any region are gathered once
per block, and region sums are accumulated in float64 with :func:`numpy.add.reduceat`. The same
pass accumulates per-voxel temporal moments for QC (tSNR, usable-signal coverage, non-finite
voxels). Images on disk are streamed block by block, so peak memory stays a few tens of MB above
the interpreter's own, whatever the image size.

Region definitions follow nilearn exactly:

* labels (:func:`label_regions`): the label image is resampled to the data grid by nearest
  neighbour with :func:`nilearn.image.resample_img` when the grids differ (``resampling_target=
  "data"``), and voxels outside the mask become background;
* spheres (:func:`sphere_regions`): in-mask voxels whose centre lies within ``radius`` mm of the
  seed, plus the voxel nearest to the seed and the first voxel whose truncated world coordinates
  equal the truncated seed, as ``nilearn.maskers.nifti_spheres_masker.
  apply_mask_and_get_affinity`` does (evaluated on a stencil around each seed).

Unlike nilearn, an empty region is not an error: it gets a NaN signal and zero coverage so the
caller can flag it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import nibabel as nib
import numpy as np
from nilearn.image import resample_img

#: Volumes per block when streaming a 4-D image (a block of 97×115×97 float32 volumes is ~4 MB
#: per volume).
DEFAULT_BLOCK_VOLUMES = 16


@dataclass(frozen=True)
class Regions:
    """Voxel membership of regions on one voxel grid.

    Attributes
    ----------
    names : tuple of str
        Region names in output column order.
    voxels : ndarray of int64
        Fortran-order flat voxel indices of every region, concatenated (a voxel may appear in
        several regions, e.g. overlapping spheres).
    offsets : ndarray of int64
        ``voxels[offsets[i]:offsets[i + 1]]`` are the voxels of region ``i``.
    n_atlas_voxels : ndarray of int64
        Voxels of each region on the data grid before the brain mask was applied (the coverage
        denominator).
    shape : tuple of int
        The 3-D grid shape.
    affine : ndarray
        The grid's voxel-to-world affine.
    """

    names: tuple[str, ...]
    voxels: np.ndarray
    offsets: np.ndarray
    n_atlas_voxels: np.ndarray
    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def n_regions(self) -> int:
        """Number of regions."""
        return len(self.names)

    @property
    def counts(self) -> np.ndarray:
        """Voxels per region after masking."""
        return np.diff(self.offsets)

    def members(self, index: int) -> np.ndarray:
        """Flat voxel indices of one region."""
        return self.voxels[self.offsets[index]:self.offsets[index + 1]]


@dataclass(frozen=True)
class VoxelMoments:
    """Temporal mean and standard deviation of each analysis voxel (one pass, float64).

    Attributes
    ----------
    voxels : ndarray of int64
        Fortran-order flat indices of the analysis voxels (brain mask, or union of regions).
    mean, sd : ndarray of float64
        Temporal mean and sample standard deviation (ddof=1) of each voxel; NaN where the voxel
        holds a non-finite value at any time point.
    n_volumes : int
        Number of volumes summarised.
    """

    voxels: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    n_volumes: int

    @property
    def nonfinite(self) -> np.ndarray:
        """Boolean mask of voxels with a NaN or infinite value."""
        return ~np.isfinite(self.mean)


def same_grid(shape_a: Sequence[int], affine_a: np.ndarray, shape_b: Sequence[int],
              affine_b: np.ndarray) -> bool:
    """Whether two images share a 3-D grid (shape equal, affines equal to 1e-4 mm)."""
    return tuple(shape_a[:3]) == tuple(shape_b[:3]) and np.allclose(affine_a, affine_b, atol=1e-4)


def label_regions(labels_img: nib.Nifti1Image, label_ids: Sequence[int], names: Sequence[str],
                  shape: Sequence[int], affine: np.ndarray,
                  mask: np.ndarray | None = None) -> Regions:
    """Compile a label atlas into :class:`Regions` on a data grid.

    Parameters
    ----------
    labels_img : Nifti1Image
        3-D integer label image (0 = background).
    label_ids : sequence of int
        Label values to extract, in output order (labels absent from the grid give empty regions).
    names : sequence of str
        Region names, aligned with ``label_ids``.
    shape, affine
        The data grid.
    mask : ndarray of bool, optional
        Brain mask on the data grid; voxels outside it are background.

    Returns
    -------
    Regions
    """
    labels = resample_labels(labels_img, shape, affine)
    flat = np.asarray(labels).ravel(order="F")
    ids = np.asarray(label_ids, dtype=np.int64)
    n_atlas = _count_labels(flat, ids)
    if mask is not None:
        flat = np.where(np.asarray(mask, dtype=bool).ravel(order="F"), flat, 0)
    # Stable sort by label keeps voxels of each label in ascending flat order.
    candidates = np.flatnonzero(np.isin(flat, ids))
    order = np.argsort(flat[candidates], kind="stable")
    voxels = candidates[order]
    sorted_labels = flat[voxels]
    starts = np.searchsorted(sorted_labels, ids, side="left")
    stops = np.searchsorted(sorted_labels, ids, side="right")
    # ids may not be sorted: rebuild the concatenation in the requested order.
    pieces = [voxels[a:b] for a, b in zip(starts, stops, strict=True)]
    counts = np.array([len(p) for p in pieces], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    concatenated = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    return Regions(tuple(names), concatenated.astype(np.int64), offsets, n_atlas,
                   tuple(int(s) for s in shape[:3]), np.asarray(affine, dtype=float))


def resample_labels(labels_img: nib.Nifti1Image, shape: Sequence[int],
                    affine: np.ndarray) -> np.ndarray:
    """Label data on the data grid, resampled by nearest neighbour as nilearn's maskers do."""
    if same_grid(labels_img.shape, labels_img.affine, shape, affine):
        return np.asarray(labels_img.dataobj)
    resampled = resample_img(labels_img, target_affine=affine, target_shape=tuple(shape[:3]),
                             interpolation="nearest", force_resample=True, copy_header=True)
    return np.asarray(resampled.dataobj)


def sphere_regions(seeds: np.ndarray, radius_mm: float | Sequence[float], names: Sequence[str],
                   shape: Sequence[int], affine: np.ndarray,
                   mask: np.ndarray | None = None) -> Regions:
    """Compile spheres around world coordinates into :class:`Regions`, as nilearn does.

    Parameters
    ----------
    seeds : ndarray, shape (n, 3)
        Sphere centres in world coordinates (mm).
    radius_mm : float or sequence of float
        One radius for all spheres or one per sphere.
    names : sequence of str
        Region names.
    shape, affine
        The data grid.
    mask : ndarray of bool, optional
        Brain mask on the data grid (all voxels are candidates without it).

    Returns
    -------
    Regions
        ``n_atlas_voxels`` counts each sphere's voxels ignoring the mask.
    """
    seeds = np.atleast_2d(np.asarray(seeds, dtype=float))
    radii = np.broadcast_to(np.asarray(radius_mm, dtype=float), (len(seeds),))
    shape = tuple(int(s) for s in shape[:3])
    affine = np.asarray(affine, dtype=float)
    pieces = _sphere_members(seeds, radii, shape, affine, mask)
    counts = np.array([len(p) for p in pieces], dtype=np.int64)
    n_atlas = counts if mask is None else np.array(
        [len(p) for p in _sphere_members(seeds, radii, shape, affine, None)], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    voxels = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    return Regions(tuple(names), voxels.astype(np.int64), offsets, n_atlas, shape, affine)


def _sphere_members(seeds: np.ndarray, radii: np.ndarray, shape: tuple[int, int, int],
                    affine: np.ndarray, mask: np.ndarray | None) -> list[np.ndarray]:
    """Flat voxel indices of each sphere, following nilearn's ``apply_mask_and_get_affinity``.

    nilearn selects, among the (masked) voxels, those whose centre lies within ``radius`` of the
    seed (squared Euclidean distance <= radius², as scikit-learn's radius search), then adds the
    voxel nearest to the seed and the first voxel in C order whose truncated world coordinates
    equal the truncated seed, when they are in the mask. The unmasked geometry is computed once
    per grid (:func:`_sphere_geometry`, cached) and the mask applied here.
    """
    geometry = _sphere_geometry(np.ascontiguousarray(seeds).tobytes(),
                                np.ascontiguousarray(radii).tobytes(), tuple(shape),
                                np.ascontiguousarray(affine, dtype=float).tobytes())
    flat_mask = None if mask is None else np.asarray(mask, dtype=bool).ravel(order="F")
    pieces = []
    for within, nearest, truncated in geometry:
        if flat_mask is None:
            chosen, extra = within, [nearest] if nearest >= 0 else []
            extra += truncated[:1].tolist()
        else:
            chosen = within[flat_mask[within]]
            extra = [nearest] if nearest >= 0 and flat_mask[nearest] else []
            allowed = truncated[flat_mask[truncated]]
            extra += allowed[:1].tolist()
        pieces.append(np.union1d(chosen, np.asarray(extra, dtype=np.int64)))
    return pieces


@lru_cache(maxsize=32)
def _sphere_geometry(seeds_bytes: bytes, radii_bytes: bytes, shape: tuple[int, int, int],
                     affine_bytes: bytes) -> tuple[tuple[np.ndarray, int, np.ndarray], ...]:
    """Per seed: voxels within the radius, the nearest voxel (-1 if outside the grid), and the
    voxels whose truncated world coordinates equal the truncated seed, in C order.

    Each seed is evaluated on a stencil of voxel offsets around it, which holds every voxel
    nilearn can select.
    """
    seeds = np.frombuffer(seeds_bytes, dtype=float).reshape(-1, 3)
    radii = np.frombuffer(radii_bytes, dtype=float)
    affine = np.frombuffer(affine_bytes, dtype=float).reshape(4, 4)
    inverse = np.linalg.inv(affine)
    voxel_size = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    shape_arr = np.asarray(shape)
    centres = seeds @ inverse[:3, :3].T + inverse[:3, 3]
    out: list[tuple[np.ndarray, int, np.ndarray]] = [None] * len(seeds)  # type: ignore[list-item]
    for radius in np.unique(radii):
        which = np.flatnonzero(radii == radius)
        half = np.ceil(radius / voxel_size).astype(int) + 2
        axes = [np.arange(-h, h + 2) for h in half]
        stencil = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        per_chunk = max(1, 2_000_000 // len(stencil))
        for chunk in np.array_split(which, int(np.ceil(len(which) / per_chunk))):
            ijk = np.floor(centres[chunk]).astype(np.int64)[:, None, :] + stencil[None]
            inside = np.all((ijk >= 0) & (ijk < shape_arr), axis=2)
            world = ijk @ affine[:3, :3].T + affine[:3, 3]
            delta = world - seeds[chunk][:, None, :]
            within = inside & ((delta[..., 0] ** 2 + delta[..., 1] ** 2 + delta[..., 2] ** 2)
                               <= radius**2)
            truncated = inside & np.all(
                world.astype(np.int64) == seeds[chunk].astype(np.int64)[:, None], axis=2)
            flat = ijk[..., 0] + shape[0] * (ijk[..., 1] + shape[1] * ijk[..., 2])
            c_order = (ijk[..., 0] * shape[1] + ijk[..., 1]) * shape[2] + ijk[..., 2]
            nearest = np.round(centres[chunk]).astype(np.int64)
            for row, seed_index in enumerate(chunk):
                near = -1
                if np.all((nearest[row] >= 0) & (nearest[row] < shape_arr)):
                    near = int(nearest[row, 0] + shape[0] * (nearest[row, 1] + shape[1]
                                                             * nearest[row, 2]))
                matches = np.flatnonzero(truncated[row])
                matches = flat[row, matches[np.argsort(c_order[row, matches])]]
                out[seed_index] = (np.sort(flat[row, within[row]]), near, matches)
    return tuple(out)


def extract_signals(source: nib.Nifti1Image | np.ndarray, regions: Sequence[Regions],
                    mask: np.ndarray | None = None,
                    block_volumes: int = DEFAULT_BLOCK_VOLUMES,
                    ) -> tuple[list[np.ndarray], VoxelMoments]:
    """Mean signal of every region, and per-voxel temporal moments, in one pass over the data.

    Parameters
    ----------
    source : Nifti1Image or ndarray
        4-D BOLD data. A file-backed image is streamed block by block (open it with
        ``nibabel.load(path, keep_file_open=True)`` for ``.nii.gz`` so the gzip stream is read
        once); an ndarray should be Fortran-ordered (a C-ordered array is copied).
    regions : sequence of Regions
        Region sets compiled on the source's grid.
    mask : ndarray of bool, optional
        Analysis voxels for :class:`VoxelMoments` (the brain mask); without it the union of all
        region voxels.
    block_volumes : int
        Volumes read per block.

    Returns
    -------
    signals : list of ndarray, shape (n_volumes, n_regions)
        Region means (float64) per region set; NaN columns for empty regions.
    moments : VoxelMoments
    """
    shape = tuple(source.shape)
    if len(shape) != 4:
        raise ValueError(f"expected a 4-D image, got shape {shape}")
    grid_shape, n_volumes = shape[:3], shape[3]
    for region_set in regions:
        if tuple(region_set.shape) != tuple(grid_shape):
            raise ValueError(f"regions compiled for grid {region_set.shape}, data is {grid_shape}")
    if mask is not None:
        analysis = np.flatnonzero(np.asarray(mask, dtype=bool).ravel(order="F"))
    else:
        analysis = np.unique(np.concatenate([r.voxels for r in regions])) if regions else (
            np.zeros(0, dtype=np.int64))
    gather, layouts = _gather_plan(analysis, regions)
    n_analysis = len(analysis)
    sum1 = np.zeros(n_analysis)
    sum2 = np.zeros(n_analysis)
    shift: np.ndarray | None = None
    outputs = [np.full((n_volumes, r.n_regions), np.nan) for r in regions]
    for start, block in _iter_blocks(source, block_volumes):
        values = block[:, gather]  # (volumes, voxels): the only copy of image data we make
        if shift is None:
            shift = values[0, :n_analysis].copy()
        centred = values[:, :n_analysis] - shift
        sum1 += centred.sum(axis=0, dtype=np.float64)
        sum2 += np.square(centred).sum(axis=0, dtype=np.float64)
        stop = start + block.shape[0]
        for out, region_set, (positions, starts, nonempty, counts) in zip(
                outputs, regions, layouts, strict=True):
            total = int(region_set.offsets[-1])
            if not len(starts):
                continue
            members = values[:, :total] if positions is None else values[:, positions]
            sums = np.add.reduceat(members, starts, axis=1, dtype=np.float64)
            out[start:stop, nonempty] = sums / counts
    mean = (shift.astype(np.float64) if shift is not None else 0.0) + sum1 / max(n_volumes, 1)
    centred_mean = sum1 / max(n_volumes, 1)
    variance = (sum2 - n_volumes * centred_mean**2) / max(n_volumes - 1, 1)
    sd = np.sqrt(np.clip(variance, 0.0, None))
    mean = np.where(np.isfinite(sum1) & np.isfinite(sum2), mean, np.nan)
    return outputs, VoxelMoments(gather[:n_analysis], mean, sd, n_volumes)


def _iter_blocks(source: nib.Nifti1Image | np.ndarray,
                 block_volumes: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, (volumes, voxels) block)`` pairs in native Fortran order.

    Blocks keep float32 / float64 data as they are (integers become float32), so float64
    inputs are summarised without rounding.
    """
    n_volumes = source.shape[3]
    n_voxels = int(np.prod(source.shape[:3]))
    if isinstance(source, np.ndarray):
        data = source if source.flags.f_contiguous else np.asfortranarray(source)
        flat = data.reshape((n_voxels, n_volumes), order="F").T  # (T, V), C-contiguous view
        for start in range(0, n_volumes, block_volumes):
            yield start, _floating(flat[start:start + block_volumes])
        return
    dataobj = source.dataobj
    if not nib.is_proxy(dataobj):
        yield from _iter_blocks(np.asarray(dataobj), block_volumes)
        return
    for start in range(0, n_volumes, block_volumes):
        chunk = _floating(np.asarray(dataobj[..., start:start + block_volumes]))
        chunk = chunk if chunk.flags.f_contiguous else np.asfortranarray(chunk)
        yield start, chunk.reshape((n_voxels, chunk.shape[3]), order="F").T


def _floating(values: np.ndarray) -> np.ndarray:
    if values.dtype in (np.float32, np.float64):
        return values
    return values.astype(np.float32)


def _gather_plan(analysis: np.ndarray, regions: Sequence[Regions]):
    """Decide which voxels to gather per block, and how each region set is reduced from them.

    The analysis voxels come first; when a region set has no repeated voxel and lies inside the
    analysis voxels (a label atlas), the analysis voxels are reordered so that set is a contiguous
    prefix and can be reduced without a second gather. Region voxels outside the analysis voxels
    are appended.

    Returns
    -------
    gather : ndarray
        Flat voxel indices to read from every block; the first ``len(analysis)`` are the analysis
        voxels (in the order of :attr:`VoxelMoments.voxels`).
    layouts : list of tuple
        Per region set ``(positions, starts, nonempty, counts)``: column positions in the gathered
        block (``None`` for the prefix set), reduceat starts, indices of non-empty regions and their
        voxel counts.
    """
    order = analysis
    prefix_set = None
    for index, region_set in enumerate(regions):
        voxels = region_set.voxels
        if len(np.unique(voxels)) == len(voxels) and np.isin(voxels, analysis).all():
            order = np.concatenate([voxels, np.setdiff1d(analysis, voxels, assume_unique=True)])
            prefix_set = index
            break
    every = np.concatenate([r.voxels for r in regions]) if regions else order[:0]
    gather = np.concatenate([order, np.setdiff1d(every, order)])
    by_value = np.argsort(gather, kind="stable")
    sorted_gather = gather[by_value]
    layouts = []
    for index, region_set in enumerate(regions):
        counts = region_set.counts
        nonempty = np.flatnonzero(counts > 0)
        starts = region_set.offsets[:-1][nonempty]
        positions = None
        if index != prefix_set:
            positions = by_value[np.searchsorted(sorted_gather, region_set.voxels)]
        layouts.append((positions, starts, nonempty, counts[nonempty].astype(np.float64)))
    return gather, layouts


def _count_labels(flat: np.ndarray, ids: np.ndarray) -> np.ndarray:
    present, counts = np.unique(flat, return_counts=True)
    lookup = dict(zip(present.tolist(), counts.tolist(), strict=True))
    return np.array([lookup.get(int(i), 0) for i in ids], dtype=np.int64)
