"""Experiments of the preprocessing layer: run each Keras image-loading behaviour for real.

Every function takes the imported `tf` and returns a list of observations, one per
behaviour (the JSON shape of `gpuconform.expect.tables.keras_preprocessing.Observation`): which
package and version ran it, the call, and whether it worked (with `values` and
`measures`) or raised (type and message). Inputs are generated here, into a
temporary directory that is removed afterwards: a fixed integer pattern (no RNG,
so every release sees the same pixels), saved as JPEG and PNG, truncated copies,
and a small class tree.

Runs on TensorFlow 2.12 to 2.21: `tf.keras` is Keras 2 up to 2.15, Keras 3 from
2.16, tf-keras under TF_USE_LEGACY_KERAS=1; keras-preprocessing is tried too.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image
from PIL import ImageFile

from gpuconform.frameworks.images import SKEW_TARGET
from gpuconform.frameworks.images import TREE_SIZE
from gpuconform.frameworks.images import Json
from gpuconform.frameworks.images import Loader
from gpuconform.frameworks.images import Probe
from gpuconform.frameworks.images import fixed_image
from gpuconform.frameworks.images import keras_preprocessing_loader
from gpuconform.frameworks.images import load_img_from_inputs
from gpuconform.frameworks.images import load_img_interpolations
from gpuconform.frameworks.images import make_tree
from gpuconform.frameworks.images import not_run
from gpuconform.frameworks.images import observe
from gpuconform.frameworks.images import resample
from gpuconform.frameworks.images import save
from gpuconform.frameworks.images import skew_image
from gpuconform.frameworks.images import truncate
from gpuconform.frameworks.images import truncated_loads
from gpuconform.frameworks.images import workspace
from gpuconform.frameworks.tensorflow.experiments.dists import installed_version

KERAS_DISTRIBUTIONS = {"keras": "keras", "tf_keras": "tf-keras"}

# ---- experiments ----------------------------------------------------------------------------


def tf_keras_loader(tf: Any) -> Loader:
    """The image API `tf.keras.utils` resolves to (Keras 2, Keras 3 or tf-keras), named by its distribution."""
    utils = tf.keras.utils
    top = utils.load_img.__module__.split(".")[0]  # keras.src.utils.image_utils -> keras
    package = KERAS_DISTRIBUTIONS.get(top, top)
    return Loader(
        "tf.keras", package, installed_version(package, top), utils, f"{top}.preprocessing.image", f"{top}.utils."
    )


def load_img_inputs(tf: Any) -> list[Json]:
    """load_img from a str, a Path, a BytesIO, an open file and an upload, with target_size."""
    return load_img_from_inputs([tf_keras_loader(tf), keras_preprocessing_loader()])


def interpolations(tf: Any) -> list[Json]:
    """load_img with each interpolation against PIL's resize, its default, and an unknown name."""
    return load_img_interpolations(tf_keras_loader(tf))


def truncated_images(tf: Any) -> list[Json]:
    """Where a truncated JPEG/PNG fails (load or array conversion), with what, with LOAD_TRUNCATED_IMAGES,
    and what tf.io.decode_image makes of it."""
    out = truncated_loads(tf_keras_loader(tf))
    with workspace() as d:
        for fmt, suffix in (("jpeg", ".jpg"), ("png", ".png")):
            cut = truncate(save(fixed_image(), d / f"full{suffix}"), d / f"cut{suffix}")

            def decode(values: Json, measures: Json, cut: pathlib.Path = cut) -> None:
                values["shape"] = [
                    int(n) for n in tf.io.decode_image(cut.read_bytes(), channels=3, expand_animations=False).shape
                ]

            call = f"tf.io.decode_image(open('cut{suffix}', 'rb').read(), channels=3)"
            out.append(observe(f"truncated_{fmt}.tf_decode", "tensorflow", tf.__version__, call, decode))
    out.append(_flag_left_alone())
    return out


def _flag_left_alone() -> Json:
    # Not a host behaviour: proof that this experiment restored the global it touched.
    return {
        "behaviour": "_restored",
        "outcome": "ok",
        "values": {"load_truncated_images": ImageFile.LOAD_TRUNCATED_IMAGES},
    }


def resize_skew(tf: Any) -> list[Json]:
    """How far PIL, load_img and tf.image.resize disagree on one fixed 256 -> 64 downsample."""
    loader = tf_keras_loader(tf)
    image = skew_image()
    size = (SKEW_TARGET, SKEW_TARGET)
    pil = np.asarray(Image.fromarray(image).resize(size, resample("bilinear")), dtype=np.float32)
    batch = tf.constant(image[None].astype(np.float32))

    def tf_resized(antialias: bool) -> np.ndarray:
        return np.asarray(tf.image.resize(batch, size, method="bilinear", antialias=antialias)[0])

    def skew(a: Callable[[], np.ndarray], b: Callable[[], np.ndarray]) -> Probe:
        def probe(values: Json, measures: Json) -> None:
            diff = np.abs(a() - b())
            measures["mean_abs"] = round(float(diff.mean()), 4)
            measures["max_abs"] = round(float(diff.max()), 4)

        return probe

    with workspace() as d:
        path = save(image, d / "skew.png")

        def load_img_default() -> np.ndarray:
            return np.asarray(loader.load_img(str(path), target_size=size), dtype=np.float32)

        tf_version = tf.__version__
        return [
            observe(
                "resize_skew.tf_bilinear_vs_pil_bilinear",
                "tensorflow",
                tf_version,
                "tf.image.resize(x, (64, 64), 'bilinear') vs PIL resize BILINEAR",
                skew(lambda: tf_resized(False), lambda: pil),
            ),
            observe(
                "resize_skew.tf_antialias_vs_pil_bilinear",
                "tensorflow",
                tf_version,
                "tf.image.resize(x, (64, 64), 'bilinear', antialias=True) vs PIL resize BILINEAR",
                skew(lambda: tf_resized(True), lambda: pil),
            ),
            loader.observe(
                "resize_skew.load_img_default_vs_tf_bilinear",
                "load_img(path, target_size=(64, 64)) vs tf.image.resize(x, (64, 64), 'bilinear')",
                skew(load_img_default, lambda: tf_resized(False)),
            ),
        ]


def image_dataset(tf: Any) -> list[Json]:
    """image_dataset_from_directory on a generated tree: classes, labels, order, batches, bad files."""
    loader = tf_keras_loader(tf)
    make = tf.keras.utils.image_dataset_from_directory
    call = f"image_dataset_from_directory(tree, image_size={TREE_SIZE}, batch_size=4, shuffle=False)"
    with workspace() as d:
        tree = make_tree(d / "tree")
        seen: Json = {}

        def read(values: Json, measures: Json) -> None:
            ds = make(str(tree), image_size=TREE_SIZE, batch_size=4, shuffle=False, **_quiet(make))
            labels, first = [], None
            for images, batch_labels in ds:
                first = first or (
                    list(images.shape),
                    images.dtype.name,
                    batch_labels.dtype.name,
                    float(tf.reduce_max(images)),
                )
                labels += [int(v) for v in np.asarray(batch_labels)]
            seen.update(
                class_names=list(ds.class_names),
                labels=labels,
                files=[os.path.relpath(p, tree) for p in ds.file_paths],
                first=first,
            )

        base = loader.observe("image_dataset.class_names", call, read)
        out = [base]
        if base["outcome"] == "ok":
            base["values"] = {"class_names": seen["class_names"]}
            shape, dtype, label_dtype, peak = seen["first"]
            for behaviour, values in (
                ("labels", {"labels": seen["labels"]}),
                ("file_order", {"files": seen["files"]}),
                ("batches", {"shape": shape, "dtype": dtype, "label_dtype": label_dtype, "scaled_to_255": peak > 1.0}),
            ):
                out.append({**base, "behaviour": f"image_dataset.{behaviour}", "values": values})
        else:
            out += [{**base, "behaviour": f"image_dataset.{b}"} for b in ("labels", "file_order", "batches")]
        bad: dict[str, Callable[[pathlib.Path], object]] = {
            "not_an_image": lambda p: p.write_bytes(b"this is not an image"),
            "truncated_jpeg": lambda p: truncate(tree / "b2" / "a.jpg", p),
        }
        for kind, write in bad.items():
            write(tree / "b2" / "zz_bad.jpg")
            out.append(
                observe(
                    f"image_dataset.{kind}",
                    "tensorflow",
                    tf.__version__,
                    f"iterating {call} with b2/zz_bad.jpg as {kind}",
                    _iterates(make, tree),
                )
            )
            (tree / "b2" / "zz_bad.jpg").unlink()
    return out


def _quiet(make: Any) -> Json:
    # `verbose` is newer than Keras 2.12; without it the loader prints "Found N files" (harmless).
    return {"verbose": False} if "verbose" in inspect.signature(make).parameters else {}


def _iterates(make: Any, tree: pathlib.Path) -> Probe:
    def probe(values: Json, measures: Json) -> None:
        values["stage"] = "list"
        ds = make(str(tree), image_size=TREE_SIZE, batch_size=4, shuffle=False, **_quiet(make))
        values["stage"] = "iterate"
        for _ in ds:
            pass
        values["stage"] = "none"

    return probe


def image_data_generator(tf: Any) -> list[Json]:
    """Whether ImageDataGenerator imports (tf.keras path, the package's own path) and reads a tree."""
    loaders: list[Loader | str] = [tf_keras_loader(tf), keras_preprocessing_loader()]
    keras = loaders[0]
    assert isinstance(keras, Loader)
    out = [
        keras.observe(
            "image_data_generator.from_tf_keras",
            "from tensorflow.keras.preprocessing.image import ImageDataGenerator",
            _imports("tensorflow.keras.preprocessing.image"),
        )
    ]
    for loader in loaders:
        if isinstance(loader, str):
            out.append(not_run("image_data_generator.from_package", "keras_preprocessing", loader))
            continue
        statement = f"from {loader.image} import ImageDataGenerator"
        out.append(
            observe(
                "image_data_generator.from_package",
                loader.package,
                loader.version,
                statement,
                _imports(loader.image),
                loader.name,
            )
        )
    with workspace() as d:
        tree = make_tree(d / "tree")

        def flow(values: Json, measures: Json) -> None:
            generator = tf.keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255.0)
            it = generator.flow_from_directory(
                str(tree), target_size=TREE_SIZE, batch_size=4, shuffle=False, class_mode="sparse"
            )
            images, labels = next(it)
            values.update(
                class_indices=dict(it.class_indices),
                samples=int(it.samples),
                filenames=[f.replace(os.sep, "/") for f in it.filenames],
                batch_shape=list(images.shape),
                max_at_most_1=bool(images.max() <= 1.0),
            )

        call = (
            "tf.keras.preprocessing.image.ImageDataGenerator(rescale=1/255)"
            f".flow_from_directory(tree, target_size={TREE_SIZE}, batch_size=4, shuffle=False)"
        )
        # Keras 2.12-2.15 need SciPy here even without augmentation: two behaviours, by what is installed.
        scipy = importlib.util.find_spec("scipy") is not None
        behaviour = "image_data_generator.flow_from_directory" + ("" if scipy else "_without_scipy")
        out.append(keras.observe(behaviour, call, flow))
    return out


def _imports(module: str) -> Probe:
    def probe(values: Json, measures: Json) -> None:
        # What `from <module> import ImageDataGenerator` does, with Python's own ImportError text.
        imported = importlib.import_module(module)
        if not hasattr(imported, "ImageDataGenerator"):
            where = getattr(imported, "__file__", None) or "unknown location"
            raise ImportError(f"cannot import name 'ImageDataGenerator' from '{module}' ({where})")

    return probe
