"""Experiments of the preprocessing layer under one Keras 3 backend: what Keras promises alike on every backend.

The backend is the child's KERAS_BACKEND. Keras's image utilities (load_img, img_to_array) are
Pillow and NumPy under every backend, so the TensorFlow child's load_img experiments run here
too, through `keras.utils` (`gpuconform.frameworks.images`), and are judged by the same matrix
rows. The preprocessing layers (Rescaling, Normalization, CenterCrop, Resizing) run on the
backend's own ops, each "safe to use inside a tf.data or grain pipeline (independently of which
backend you're using)" (their docstrings in keras/src/layers/preprocessing/, 3.15.1), so each is
compared with what the same arithmetic gives in NumPy on a fixed image. TextVectorization "uses
TensorFlow internally ... can however be used with any backend when running eagerly", and raises
ImportError without it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from gpuconform.frameworks.images import HEIGHT
from gpuconform.frameworks.images import TARGET
from gpuconform.frameworks.images import WIDTH
from gpuconform.frameworks.images import Json
from gpuconform.frameworks.images import Loader
from gpuconform.frameworks.images import Probe
from gpuconform.frameworks.images import fixed_image
from gpuconform.frameworks.images import load_img_from_inputs
from gpuconform.frameworks.images import load_img_interpolations
from gpuconform.frameworks.images import observe
from gpuconform.frameworks.images import truncated_loads
from gpuconform.frameworks.keras.experiments.backend import backend as backend  # asked first, of the same child

#: TextVectorization's corpus and the sentence it maps (ties in frequency are Keras's to order).
CORPUS = ("the cat sat", "the dog sat", "a cat")
SENTENCE = "the cat ran"


def keras_loader(keras: Any) -> Loader:
    """Keras 3's own image utilities (`keras.utils`), named "keras" in the observations."""
    version = str(keras.__version__)
    return Loader("keras", "keras", version, keras.utils, "keras.preprocessing.image", "keras.utils.")


def load_img_inputs(keras: Any) -> list[Json]:
    """keras.utils.load_img from a str, a Path, a BytesIO, an open file and an upload, with target_size."""
    return load_img_from_inputs([keras_loader(keras)])


def interpolations(keras: Any) -> list[Json]:
    """keras.utils.load_img with each interpolation against PIL's resize, its default, and an unknown name."""
    return load_img_interpolations(keras_loader(keras))


def truncated_images(keras: Any) -> list[Json]:
    """Where keras.utils.load_img on a truncated JPEG/PNG fails, and with LOAD_TRUNCATED_IMAGES."""
    return truncated_loads(keras_loader(keras))


def layers(keras: Any) -> list[Json]:
    """Each preprocessing layer on a fixed batch of one image, against the same arithmetic in NumPy."""
    loader = keras_loader(keras)
    image = fixed_image()[None].astype(np.float32)  # (1, 48, 64, 3), values 0..255
    ops = keras.ops
    half = (HEIGHT // 2, WIDTH // 2)

    def run(layer: Any, values: Json, measures: Json, expected: np.ndarray, **call: Any) -> None:
        out = ops.convert_to_numpy(layer(image, **call))
        values["shape"], values["dtype"] = list(out.shape), str(out.dtype)
        measures["max_abs_vs_numpy"] = round(float(np.abs(out.astype(np.float64) - expected).max()), 7)

    def rescaling(values: Json, measures: Json) -> None:
        run(keras.layers.Rescaling(1 / 255.0), values, measures, image / 255.0)

    def normalization(values: Json, measures: Json) -> None:
        layer = keras.layers.Normalization(axis=-1)
        layer.adapt(image)
        flat = image.reshape(-1, 3).astype(np.float64)
        run(layer, values, measures, (image - flat.mean(0)) / np.sqrt(flat.var(0)))

    def center_crop(values: Json, measures: Json) -> None:
        top, left = (HEIGHT - TARGET[0]) // 2, (WIDTH - TARGET[1]) // 2
        crop = image[:, top : top + TARGET[0], left : left + TARGET[1]]
        run(keras.layers.CenterCrop(*TARGET), values, measures, crop)

    def resizing_bilinear(values: Json, measures: Json) -> None:
        # Halving with half-pixel centres samples between each 2x2 block's pixels: their mean.
        blocks = image.reshape(1, half[0], 2, half[1], 2, 3).astype(np.float64).mean(axis=(2, 4))
        run(keras.layers.Resizing(*half, interpolation="bilinear"), values, measures, blocks)

    def resizing_nearest(values: Json, measures: Json) -> None:
        # Halving with half-pixel centres: output pixel i samples input floor((i + 0.5) * 2) = 2i + 1.
        run(keras.layers.Resizing(*half, interpolation="nearest"), values, measures, image[:, 1::2, 1::2])

    def text_vectorization(values: Json, measures: Json) -> None:
        layer = keras.layers.TextVectorization(output_mode="int")
        layer.adapt(list(CORPUS))
        values["vocabulary"] = [str(w) for w in layer.get_vocabulary()]
        values["ids"] = [int(i) for i in np.asarray(ops.convert_to_numpy(layer([SENTENCE])))[0]]

    probes: dict[str, tuple[str, Probe]] = {
        "rescaling": ("layers.Rescaling(1 / 255)(image)", rescaling),
        "normalization": ("layers.Normalization(axis=-1), adapt(image), then (image)", normalization),
        "center_crop": (f"layers.CenterCrop{TARGET}(image)", center_crop),
        "resizing_bilinear": (f"layers.Resizing{half}(interpolation='bilinear')(image)", resizing_bilinear),
        "resizing_nearest": (f"layers.Resizing{half}(interpolation='nearest')(image)", resizing_nearest),
    }
    version = loader.version

    def run_layer(behaviour: str, call: str, probe: Probe) -> Json:
        return observe(behaviour, "keras", version, f"keras.{call}", probe, loader.name)

    out = [run_layer(f"layers.{name}", call, probe) for name, (call, probe) in probes.items()]
    # TextVectorization runs on TensorFlow under every backend: two behaviours, by whether it is installed.
    with_tf = importlib.util.find_spec("tensorflow") is not None
    behaviour = "layers.text_vectorization" + ("" if with_tf else "_without_tensorflow")
    call = f"layers.TextVectorization(output_mode='int'), adapt({list(CORPUS)}), then ([{SENTENCE!r}])"
    out.append(run_layer(behaviour, call, text_vectorization))
    return out
