"""Execute the notebooks in place so that the repository and the documentation site show their
outputs; figures are stored as palette PNGs to keep the files small.

    python docs/refresh_notebooks.py [notebooks/NAME.ipynb ...]

The test suite executes the notebooks too (nbmake) but does not write them back.
"""

from __future__ import annotations

import base64
import io
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def shrink_png(data: str, colours: int = 128) -> str:
    """A base64 PNG re-encoded with a ``colours``-colour palette when that is smaller."""
    raw = base64.b64decode(data)
    image = Image.open(io.BytesIO(raw)).convert("RGB").quantize(
        colours, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode() if buffer.tell() < len(raw) else data


def refresh(path: Path) -> float:
    """Execute one notebook in its folder, shrink its figures and write it back; seconds."""
    notebook = nbformat.read(path, as_version=4)
    # the kernel runs in the notebook's folder: give it this checkout's package, absolutely
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    started = time.time()
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                output["data"]["image/png"] = shrink_png(output["data"]["image/png"])
    nbformat.write(notebook, path)
    return time.time() - started


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for notebook_path in paths:
        print(f"{notebook_path}: {refresh(notebook_path):.0f} s", flush=True)
