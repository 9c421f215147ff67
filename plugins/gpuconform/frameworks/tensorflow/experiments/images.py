"""The inputs and loaders of the preprocessing experiments.

Fixed images, truncated files and class trees, and the Keras image APIs they are loaded through
(tf.keras's and the standalone keras-preprocessing).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import pathlib
import tempfile
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from gpuconform.frameworks.tensorflow.experiments.dists import installed_version

HEIGHT, WIDTH = 48, 64  # the fixed image
TARGET = (24, 32)  # load_img's target_size (height, width)
SKEW_SIZE, SKEW_TARGET = 256, 64
TREE_CLASSES = ("b2", "Zebra", "b10", "apple")  # sorted: Zebra, apple, b10, b2 (case-sensitive, not natural)
TREE_FILES = ("img_10.png", "img_9.png", "a.jpg")
TREE_SIZE = (20, 30)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
KERAS_DISTRIBUTIONS = {"keras": "keras", "tf_keras": "tf-keras"}

Json = dict[str, Any]
Probe = Callable[[Json, Json], None]  # fills values and measures; raising is the observation


# ---- inputs ---------------------------------------------------------------------------------


def fixed_image(height: int = HEIGHT, width: int = WIDTH, shift: int = 0) -> np.ndarray:
    """An RGB uint8 image with detail at every scale, from integer arithmetic only."""
    y, x = np.mgrid[0:height, 0:width]
    channels = [(x * 37 + y * 11 + shift) % 256, (x * x + 3 * y) % 256, ((x ^ y) * 29) % 256]
    return np.stack(channels, -1).astype(np.uint8)


def skew_image() -> np.ndarray:
    """A high-frequency image: resizing it shows how much resizers disagree."""
    y, x = np.mgrid[0:SKEW_SIZE, 0:SKEW_SIZE]
    channels = [((x * 7) ^ (y * 13)) % 256, ((x * y) // 3) % 256, (np.abs(x - y) * 11) % 256]
    return np.stack(channels, -1).astype(np.uint8)


def save(array: np.ndarray, path: pathlib.Path) -> pathlib.Path:
    Image.fromarray(array).save(path, quality=90) if path.suffix == ".jpg" else Image.fromarray(array).save(path)
    return path


def truncate(path: pathlib.Path, into: pathlib.Path) -> pathlib.Path:
    """A copy of `path` cut to half its bytes (the tail of the pixel data is lost)."""
    data = path.read_bytes()
    into.write_bytes(data[: len(data) // 2])
    return into


@contextlib.contextmanager
def workspace() -> Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory(prefix="gpuconform-preprocessing-") as d:
        yield pathlib.Path(d)


def make_tree(root: pathlib.Path) -> pathlib.Path:
    """Four classes of three images each, plus a file that is not an image."""
    for i, name in enumerate(TREE_CLASSES):
        (root / name).mkdir(parents=True)
        for j, file in enumerate(TREE_FILES):
            save(fixed_image(shift=3 * i + j), root / name / file)
    (root / "apple" / "notes.txt").write_text("not an image, and not .jpg/.png: ignored")
    return root


def resample(name: str) -> Any:
    # Pillow >= 9.1 has Image.Resampling; the bare constants went away in Pillow 10.
    return getattr(getattr(Image, "Resampling", Image), name.upper())


def pil_resized(path: pathlib.Path, size: tuple[int, int], interpolation: str) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((size[1], size[0]), resample(interpolation)))


# ---- the loaders ----------------------------------------------------------------------------


class Loader:
    """A Keras image API: the one `tf.keras` resolves to, or the standalone keras-preprocessing."""

    def __init__(self, name: str, package: str, version: str, module: Any, image: Any, prefix: str) -> None:
        self.name = name  # "tf.keras" or "keras_preprocessing"
        self.package = package  # the distribution: keras, tf-keras, keras-preprocessing
        self.version = version
        self.load_img = module.load_img
        self.img_to_array = module.img_to_array
        self.image = image  # the package's preprocessing.image module path, for ImageDataGenerator
        self.prefix = prefix  # how messages spell the call

    def observe(self, behaviour: str, call: str, probe: Probe) -> Json:
        return observe(behaviour, self.package, self.version, f"{self.prefix}{call}", probe, self.name)


def tf_keras_loader(tf: Any) -> Loader:
    utils = tf.keras.utils
    top = utils.load_img.__module__.split(".")[0]  # keras.src.utils.image_utils -> keras
    package = KERAS_DISTRIBUTIONS.get(top, top)
    return Loader(
        "tf.keras", package, installed_version(package, top), utils, f"{top}.preprocessing.image", f"{top}.utils."
    )


def keras_preprocessing_loader() -> Loader | str:
    """The standalone loader, or why it cannot be used."""
    try:
        module = importlib.import_module("keras_preprocessing.image")
    except ModuleNotFoundError:
        return "keras-preprocessing is not installed"
    version = importlib.metadata.version("keras-preprocessing")
    return Loader(
        "keras_preprocessing",
        "keras-preprocessing",
        version,
        module,
        "keras_preprocessing.image",
        "keras_preprocessing.image.",
    )


def observe(behaviour: str, package: str, version: str, call: str, probe: Probe, loader: str = "tf.keras") -> Json:
    """Run `probe`; its values and measures are kept whether it works or raises."""
    values: Json = {}
    measures: Json = {}
    record: Json = {"behaviour": behaviour, "package": package, "version": version, "call": call, "loader": loader}
    try:
        probe(values, measures)
        record["outcome"] = "ok"
    except Exception as exc:  # noqa: BLE001 - the exception is what we observe
        record.update(outcome="raises", error_type=type(exc).__name__, error=str(exc)[:1500])
    return {**record, "values": values, "measures": measures}


def not_run(behaviour: str, loader: str, reason: str) -> Json:
    return {
        "behaviour": behaviour,
        "package": "",
        "version": "",
        "outcome": "not-run",
        "reason": reason,
        "loader": loader,
    }
