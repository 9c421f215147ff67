"""The inputs, loaders and load_img experiments of the preprocessing layer, whichever child runs them.

Fixed images, truncated files and class trees; the Keras image APIs they are loaded through
(a `Loader`: tf.keras's, Keras 3's own under any backend, the standalone keras-preprocessing);
and the load_img experiments every one of them answers alike (`load_img_from_inputs`,
`load_img_interpolations`, `truncated_loads`). Imported only in children (TensorFlow's, and
Keras 3's under each backend): it needs numpy and Pillow, and imports no framework itself.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import inspect
import io
import pathlib
import tempfile
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image
from PIL import ImageFile

HEIGHT, WIDTH = 48, 64  # the fixed image
TARGET = (24, 32)  # load_img's target_size (height, width)
SKEW_SIZE, SKEW_TARGET = 256, 64
TREE_CLASSES = ("b2", "Zebra", "b10", "apple")  # sorted: Zebra, apple, b10, b2 (case-sensitive, not natural)
TREE_FILES = ("img_10.png", "img_9.png", "a.jpg")
TREE_SIZE = (20, 30)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")

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


# ---- the load_img experiments --------------------------------------------------------------


def load_img_from_inputs(loaders: list[Loader | str]) -> list[Json]:
    """load_img of each loader (a str: why it cannot be used) from a str, a Path, a BytesIO, an open file and
    an upload, with target_size."""
    out = []
    with workspace() as d:
        path = save(fixed_image(), d / "photo.jpg")
        data = path.read_bytes()
        expected = pil_resized(path, TARGET, "nearest")
        for loader in loaders:
            if isinstance(loader, str):
                out += [
                    not_run(f"load_img.{kind}", "keras_preprocessing", loader) for kind in _input_makers(path, data)
                ]
                continue
            for kind, (call, make) in _input_makers(path, data).items():
                if make is None:
                    out.append(
                        not_run(f"load_img.{kind}", loader.name, "werkzeug is not installed; the upload case needs it")
                    )
                    continue
                out.append(loader.observe(f"load_img.{kind}", call, _loads(loader, make, expected)))
    return out


def _input_makers(path: pathlib.Path, data: bytes) -> dict[str, tuple[str, Callable[[], Any] | None]]:
    target = f"target_size={TARGET}"
    makers: dict[str, tuple[str, Callable[[], Any] | None]] = {
        "str_path": (f"load_img('photo.jpg', {target})", lambda: str(path)),
        "pathlib_path": (f"load_img(pathlib.Path('photo.jpg'), {target})", lambda: path),
        "bytesio": (f"load_img(io.BytesIO(data), {target})", lambda: io.BytesIO(data)),
        # The file is closed by _loads once load_img is done with it.
        "binary_file": (f"load_img(open('photo.jpg', 'rb'), {target})", lambda: open(path, "rb")),  # noqa: SIM115
    }
    try:
        from werkzeug.datastructures import FileStorage
    except ImportError:
        makers["filestorage"] = ("", None)
    else:
        upload = (
            f"load_img(FileStorage(stream, 'photo.jpg', content_type='image/jpeg'), {target})",
            lambda: FileStorage(stream=io.BytesIO(data), filename="photo.jpg", content_type="image/jpeg"),
        )
        makers["filestorage"] = upload
    return makers


def _loads(loader: Loader, make: Callable[[], Any], expected: np.ndarray) -> Probe:
    def probe(values: Json, measures: Json) -> None:
        source = make()
        try:
            img = loader.load_img(source, target_size=TARGET)
        finally:
            if hasattr(source, "close"):
                source.close()
        values["size"] = list(img.size)
        values["mode"] = img.mode
        values["same_pixels"] = bool(np.array_equal(np.asarray(img), expected))

    return probe


def load_img_interpolations(loader: Loader) -> list[Json]:
    """load_img with each interpolation against PIL's resize, its default, and an unknown name."""
    out = []
    with workspace() as d:
        path = save(fixed_image(), d / "photo.png")
        for name in INTERPOLATIONS:

            def same(values: Json, measures: Json, name: str = name) -> None:
                img = loader.load_img(str(path), target_size=TARGET, interpolation=name)
                values["matches_pil"] = bool(np.array_equal(np.asarray(img), pil_resized(path, TARGET, name)))

            out.append(
                loader.observe(
                    f"load_img.interpolation.{name}",
                    f"load_img(path, target_size={TARGET}, interpolation={name!r})",
                    same,
                )
            )

        def default(values: Json, measures: Json) -> None:
            values["default"] = inspect.signature(loader.load_img).parameters["interpolation"].default
            img = loader.load_img(str(path), target_size=TARGET)
            values["matches_pil_nearest"] = bool(np.array_equal(np.asarray(img), pil_resized(path, TARGET, "nearest")))

        out.append(loader.observe("load_img.default_interpolation", f"load_img(path, target_size={TARGET})", default))

        def unknown(values: Json, measures: Json) -> None:
            loader.load_img(str(path), target_size=TARGET, interpolation="nonexistent")

        out.append(
            loader.observe(
                "load_img.unknown_interpolation",
                "load_img(path, target_size=..., interpolation='nonexistent')",
                unknown,
            )
        )
    return out


@contextlib.contextmanager
def load_truncated_images(value: bool) -> Iterator[None]:
    """Set PIL's process-wide LOAD_TRUNCATED_IMAGES, and put back what was there."""
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = value
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


def truncated_loads(loader: Loader) -> list[Json]:
    """Where load_img on a truncated JPEG/PNG fails (load or array conversion), with what, and with
    LOAD_TRUNCATED_IMAGES."""
    out = []
    with workspace() as d:
        for fmt, suffix in (("jpeg", ".jpg"), ("png", ".png")):
            cut = truncate(save(fixed_image(), d / f"full{suffix}"), d / f"cut{suffix}")
            out.append(
                loader.observe(
                    f"truncated_{fmt}.load_img", f"img_to_array(load_img('cut{suffix}'))", _staged(loader, cut, None)
                )
            )
            out.append(
                loader.observe(
                    f"truncated_{fmt}.load_img_target_size",
                    f"img_to_array(load_img('cut{suffix}', target_size={TARGET}))",
                    _staged(loader, cut, TARGET),
                )
            )

            def tolerant(values: Json, measures: Json, cut: pathlib.Path = cut) -> None:
                with load_truncated_images(True):
                    values["shape"] = list(loader.img_to_array(loader.load_img(str(cut))).shape)

            out.append(
                loader.observe(
                    f"truncated_{fmt}.load_truncated_images",
                    f"img_to_array(load_img('cut{suffix}')) with PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True",
                    tolerant,
                )
            )
    return out


def _staged(loader: Loader, path: pathlib.Path, target: tuple[int, int] | None) -> Probe:
    # `stage` says where it failed: PIL opens lazily, so a truncated file may load and only
    # fail when its pixels are read (array conversion), or at load when a resize reads them.
    def probe(values: Json, measures: Json) -> None:
        with load_truncated_images(False):  # PIL's default, whatever this process had set
            values["stage"] = "load"
            img = loader.load_img(str(path), target_size=target)
            values["stage"] = "array"
            loader.img_to_array(img)
            values["stage"] = "none"

    return probe
