"""Pictures of spine label maps drawn over their images."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from backpheno.imaging.spine.images import Image, load_canonical
from backpheno.imaging.spine.labels import LabelScheme, load_scheme


def plot_sagittal(image: Image, labels: Image, scheme: str | dict | LabelScheme,
                  ax: Axes | None = None, x_index: int | None = None) -> Axes:
    """Draw a sagittal slice (anterior on the left) with every named structure outlined.

    Parameters
    ----------
    image, labels : str, Path or nibabel image
        The image and its label map (same grid).
    scheme : str, mapping or LabelScheme
        Names the label values.
    ax : Axes, optional
        Where to draw; a new figure otherwise.
    x_index : int, optional
        Sagittal slice (RAS-canonical first axis); default: through the labels' centroid.
    """
    return _draw(image, labels, scheme, ax, axis=0, index=x_index)


def plot_axial(image: Image, labels: Image, scheme: str | dict | LabelScheme,
               ax: Axes | None = None, z_index: int | None = None) -> Axes:
    """Draw an axial slice in radiological view (patient's right on the left), muscles outlined.

    Parameters are those of :func:`plot_sagittal`; ``z_index`` picks the axial slice.
    """
    return _draw(image, labels, scheme, ax, axis=2, index=z_index)


def _draw(image: Image, labels: Image, scheme: str | dict | LabelScheme, ax: Axes | None,
          axis: int, index: int | None) -> Axes:
    scheme = load_scheme(scheme)
    img = load_canonical(image, "image")
    lab = load_canonical(labels, "label map")
    data = np.asarray(img.dataobj, dtype=float)
    values = np.asanyarray(lab.dataobj)
    structures = scheme.split(values)
    if index is None:
        every = np.concatenate(list(structures.voxels.values()))
        index = int(np.round(every[:, axis].mean()))
    take = [slice(None)] * 3
    take[axis] = index
    plane = data[tuple(take)].T
    names = np.zeros(values.shape, dtype=np.int16)
    for k, ijk in enumerate(structures.voxels.values(), start=1):
        names[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = k
    label_plane = names[tuple(take)].T
    zooms = np.linalg.norm(img.affine[:3, :3], axis=0)
    shown = [d for d in range(3) if d != axis]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 7))
    ax.imshow(plane, cmap="gray", origin="lower", aspect=zooms[shown[1]] / zooms[shown[0]],
              vmax=np.percentile(plane, 99.5))
    colours = plt.get_cmap("tab20")
    for k, name in enumerate(structures.voxels, start=1):
        inside = label_plane == k
        if not inside.any():
            continue
        ax.contour(inside, levels=[0.5], colors=[colours((k - 1) % 20)], linewidths=1.2)
        rows, cols = np.nonzero(inside)
        ax.text(cols.mean(), rows.mean(), name, color="yellow", fontsize=8, ha="center",
                va="center")
    ax.invert_xaxis()  # sagittal: anterior on the left; axial: patient's right on the left
    orientation = {0: "sagittal", 2: "axial"}[axis]
    ax.set_title(f"{orientation} slice {index} ({scheme.name} labels)")
    ax.set_axis_off()
    return ax
