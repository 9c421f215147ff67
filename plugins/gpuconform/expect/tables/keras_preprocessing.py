"""The Keras preprocessing matrix (`matrices/keras_preprocessing.toml`): how each behaviour is known to come out.

Each `[[known]]` row says, for one behaviour the preprocessing suite runs and one
package version range, what the behaviour does there: it works (`outcome = "ok"`)
or raises a given error, plus exact `values` and measured `ranges`. A row may
record a known regression (the issue, the workaround, and the `[application]`
profile key that turns it into a failure). The suite runs each behaviour for real
and compares the observation with the first row that matches the installed version.
An `[[introduced]]` row names the release that first has an API an experiment calls:
on an older release the experiment's checks fail with that release, and no child runs.

The rows are read with the validating reader of `gpuconform.expect.tables.reader`, so
every problem is a DataError naming the file and the key (``known[3].versions``).
`GPUCONFORM_KERAS_MATRIX` points the suite at another copy of the file (to try
an edit before committing it, and for the self-tests that make checks fail).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.expect.profiles import ApplicationExpectation
from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import Schema
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.reader import row_notes
from gpuconform.facts.errors import did_you_mean
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.model import PackagesFacts

#: The experiments of `gpuconform.frameworks.tensorflow.experiments.preprocessing`, all run by one child.
EXPERIMENTS = (
    "load_img_inputs",
    "interpolations",
    "truncated_images",
    "resize_skew",
    "image_dataset",
    "image_data_generator",
)
#: Points the suite at another copy of the matrix file.
ENV_VAR = "GPUCONFORM_KERAS_MATRIX"
FILE_NAME = "keras_preprocessing.toml"

#: The distributions a row can be about. "keras" is Keras 2 (TF <= 2.15) or 3 by version;
#: the suite reports whichever distribution `tf.keras` resolved to (tf-keras under
#: TF_USE_LEGACY_KERAS=1), and keras-preprocessing when the standalone package is installed.
PACKAGES = ("keras", "tf-keras", "keras-preprocessing", "tensorflow", "pillow")
OUTCOMES = ("ok", "raises")

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
LOAD_INPUTS = {
    "str_path": "a str path",
    "pathlib_path": "a pathlib.Path",
    "bytesio": "an io.BytesIO",
    "binary_file": "an open binary file",
    "filestorage": "a werkzeug FileStorage (a web upload)",
}
IMAGE_FORMATS = ("jpeg", "png")
SKEWS = {
    "tf_bilinear_vs_pil_bilinear": "tf.image.resize(bilinear) against PIL BILINEAR",
    "tf_antialias_vs_pil_bilinear": "tf.image.resize(bilinear, antialias=True) against PIL BILINEAR",
    "load_img_default_vs_tf_bilinear": "load_img(target_size=...) with its default against tf.image.resize(bilinear)",
}
#: Keras 3's preprocessing layers, run under each backend against the same arithmetic in NumPy
#: (`gpuconform.frameworks.keras.experiments.preprocessing.layers`).
LAYERS = {
    "rescaling": "keras.layers.Rescaling(1/255) against NumPy",
    "normalization": "keras.layers.Normalization adapted to an image, against NumPy's mean and variance",
    "center_crop": "keras.layers.CenterCrop against NumPy slicing",
    "resizing_bilinear": "keras.layers.Resizing(interpolation='bilinear') halving an image, against 2x2 block means",
    "resizing_nearest": "keras.layers.Resizing(interpolation='nearest') halving an image, against every other pixel",
    "text_vectorization": "keras.layers.TextVectorization adapted to a small corpus (TensorFlow installed)",
    "text_vectorization_without_tensorflow": "keras.layers.TextVectorization without TensorFlow installed",
}
DATASET_CORRUPTIONS = {
    "not_an_image": "a .jpg file that is not an image",
    "truncated_jpeg": "a truncated JPEG",
}


def _behaviours() -> dict[str, str]:
    """Every behaviour id the suite runs, with the words failure messages use for it."""
    out = {f"load_img.{k}": f"load_img from {v}" for k, v in LOAD_INPUTS.items()}
    out.update({f"load_img.interpolation.{i}": f"load_img(interpolation={i!r}) against PIL" for i in INTERPOLATIONS})
    out["load_img.default_interpolation"] = "load_img's default interpolation"
    out["load_img.unknown_interpolation"] = "load_img with an unknown interpolation"
    for fmt in IMAGE_FORMATS:
        name = fmt.upper()
        out[f"truncated_{fmt}.load_img"] = f"load_img then img_to_array on a truncated {name}"
        out[f"truncated_{fmt}.load_img_target_size"] = f"load_img(target_size=...) on a truncated {name}"
        out[f"truncated_{fmt}.load_truncated_images"] = f"a truncated {name} with PIL's LOAD_TRUNCATED_IMAGES"
        out[f"truncated_{fmt}.tf_decode"] = f"tf.io.decode_image on a truncated {name}"
    out.update({f"resize_skew.{k}": v for k, v in SKEWS.items()})
    out["image_dataset.class_names"] = "image_dataset_from_directory's class names"
    out["image_dataset.labels"] = "image_dataset_from_directory's labels"
    out["image_dataset.file_order"] = "image_dataset_from_directory's file order with shuffle=False"
    out["image_dataset.batches"] = "image_dataset_from_directory's batch shape and dtype"
    out.update({f"image_dataset.{k}": f"image_dataset_from_directory on {v}" for k, v in DATASET_CORRUPTIONS.items()})
    out["image_data_generator.from_tf_keras"] = "ImageDataGenerator from tf.keras.preprocessing.image"
    out["image_data_generator.from_package"] = "ImageDataGenerator from the package's own preprocessing.image"
    out["image_data_generator.flow_from_directory"] = "ImageDataGenerator.flow_from_directory (SciPy installed)"
    out["image_data_generator.flow_from_directory_without_scipy"] = (
        "ImageDataGenerator.flow_from_directory without SciPy"
    )
    out.update({f"layers.{k}": v for k, v in LAYERS.items()})
    return out


BEHAVIOURS: dict[str, str] = _behaviours()
REQUIREMENTS = tuple(f.name for f in dataclasses.fields(ApplicationExpectation))

# fmt: off
_FILE: Schema = {"meta": "table", "known": "tables", "introduced?": "tables"}
_ROW: Schema = {
    "behaviour": "string", "package": "string", "versions": "string", "outcome": "string",
    "observed": "strings", "error_type?": "string", "error?": "string", "values?": "table",
    "ranges?": "table", "regression?": "string", "workaround?": "string", "requirement?": "string",
    "notes?": "strings",
}
_INTRODUCED: Schema = {
    "experiment": "string", "api": "string", "package": "string", "since": "string", "error": "string",
    "before?": "string", "source": "string",
}
# fmt: on


class KnownRegression(AssertionError):
    """Raised by a check whose behaviour is a known regression (the check is xfail-strict on it)."""


@dataclass(frozen=True)
class KnownRow:
    """One `[[known]]` row: how a behaviour comes out for a package version range."""

    key: str  # "known[3]", for messages
    behaviour: str
    package: str
    versions: SpecifierSet
    outcome: str  # "ok" or "raises"
    observed: tuple[Version, ...]  # versions the row was seen on
    error_type: str | None = None
    error: str | None = None  # a pattern: `*` matches any text, everything else is literal
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    ranges: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    regression: str | None = None
    workaround: str | None = None
    requirement: str | None = None
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """What the row predicts, in words."""
        parts = ["works" if self.outcome == "ok" else f"raises {self.error_type}: {self.error}"]
        parts += [f"{k} = {v!r}" for k, v in self.values.items()]
        parts += [f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in self.ranges.items()]
        return "; ".join(parts)

    @property
    def pin(self) -> str:
        """A pip requirement that brings back the newest version this row was seen on."""
        return f"{self.package}=={max(self.observed)}"


@dataclass(frozen=True)
class Observation:
    """What a behaviour did when the suite ran it (the JSON an experiment returns)."""

    behaviour: str
    package: str
    version: str
    outcome: str  # "ok", "raises", or "not-run" (with `reason`)
    loader: str = "tf.keras"  # the API that ran it: "tf.keras", or the standalone "keras_preprocessing"
    call: str = ""  # the statement that was run, for messages
    error_type: str | None = None
    error: str | None = None
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    measures: Mapping[str, float] = dataclasses.field(default_factory=dict)
    reason: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Observation:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def describe(self) -> str:
        """What happened, in words."""
        parts = ["worked" if self.outcome == "ok" else f"raised {self.error_type}: {first_line(self.error or '')}"]
        parts += [f"{k} = {v!r}" for k, v in self.values.items()]
        parts += [f"{k} = {v:.4g}" for k, v in self.measures.items()]
        return "; ".join(parts)


def observations(answer: list[dict[str, Any]]) -> dict[tuple[str, str], Observation]:
    """An experiment's answer keyed by (loader, behaviour); records whose behaviour starts with _ are not checks."""
    kept = [Observation.from_json(record) for record in answer if not str(record["behaviour"]).startswith("_")]
    return {(o.loader, o.behaviour): o for o in kept}


@dataclass(frozen=True)
class IntroducedRow:
    """One `[[introduced]]` row: the release that first has an API an experiment calls."""

    key: str  # "introduced[0]", for messages
    experiment: str  # one of EXPERIMENTS
    api: str  # "tf.keras.preprocessing.image_dataset_from_directory"
    package: str  # the distribution whose version decides: one of PACKAGES
    since: Version
    error: str  # what calling it raises on an older release, as users report it
    before: str | None  # where the API was before `since`, if anywhere
    source: str

    def lacks(self, version: str) -> bool:
        """Whether `version` predates the API. A prerelease of `since` (a nightly, an rc) may have it: not lacking."""
        try:
            installed = Version(version)
        except InvalidVersion:
            return False
        return Version(installed.base_version) < self.since


@dataclass(frozen=True)
class KerasMatrix:
    """The rows of the matrix file, in file order."""

    meta: TableMeta
    rows: tuple[KnownRow, ...]
    introduced: tuple[IntroducedRow, ...] = ()

    def lacking(self, experiment: str, packages: PackagesFacts) -> Lacking | None:
        """Where the installed release predates an API `experiment` calls (its first such `[[introduced]]` row);
        None when every API it calls is there, or the package a row names is not installed."""
        installed = installed_packages(packages)
        for row in self.introduced:
            info = installed.get(row.package)
            if row.experiment == experiment and info is not None and row.lacks(info.version):
                return Lacking(row, info)
        return None

    def lookup(self, behaviour: str, package: str, version: str) -> KnownRow | None:
        """The first row for this behaviour and package whose range holds `version`."""
        try:
            v = Version(version)
        except InvalidVersion:
            return None
        for row in self.rows:
            if row.behaviour == behaviour and row.package == package and row.versions.contains(v, prereleases=True):
                return row
        return None


@dataclass(frozen=True)
class Lacking:
    """An experiment's answer where the installed release predates an API it calls: no observation, and why."""

    row: IntroducedRow
    installed: PackageInfo  # the distribution the row's package resolved to: tensorflow-gpu for "tensorflow"

    def __contains__(self, key: object) -> bool:
        return False  # nothing was observed


def installed_packages(packages: PackagesFacts) -> dict[str, PackageInfo]:
    """The installed distribution of each package a row can name (PACKAGES), from the package metadata;
    "tensorflow" is whichever TensorFlow distribution is installed (tensorflow-gpu, tf-nightly, ...)."""
    found = {
        "tensorflow": packages.tensorflow,
        "keras": packages.keras,
        "tf-keras": packages.tf_keras,
        "keras-preprocessing": packages.keras_preprocessing,
        "pillow": next((p for p in packages.others if p.name == "pillow"), None),
    }
    return {name: info for name, info in found.items() if info is not None}


def matrix_path() -> Path:
    """The matrix file in use: $GPUCONFORM_KERAS_MATRIX, or the packaged one."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    return Path(str(importlib.resources.files("gpuconform.matrices") / FILE_NAME))


def load_keras_matrix(path: Path | None = None) -> KerasMatrix:
    """Read and validate the matrix; every problem is a DataError naming the file and the key."""
    r = Reader(path or matrix_path())
    meta = r.meta("keras_preprocessing", _FILE)
    rows = tuple(_row(r, key, row) for key, row in r.rows("known", _ROW))
    r.nonempty(list(rows), "known", "one [[known]] row per behaviour and version range")
    introduced = r.rows("introduced", _INTRODUCED) if "introduced" in r.data else []
    return KerasMatrix(meta, rows, tuple(_introduced(r, key, row) for key, row in introduced))


def _introduced(r: Reader, key: str, row: dict[str, Any]) -> IntroducedRow:
    return IntroducedRow(
        key=key,
        experiment=r.choice(row["experiment"], f"{key}.experiment", EXPERIMENTS),
        api=row["api"],
        package=r.choice(row["package"], f"{key}.package", PACKAGES),
        since=r.version(row["since"], f"{key}.since", "2.3.0"),
        error=row["error"],
        before=row.get("before"),
        source=row["source"],
    )


def _row(r: Reader, key: str, row: dict[str, Any]) -> KnownRow:
    behaviour = row["behaviour"]
    if behaviour not in BEHAVIOURS:
        raise r.fail(f"{key}.behaviour", f"unknown behaviour {behaviour!r}{did_you_mean(behaviour, BEHAVIOURS)}")
    outcome = r.choice(row["outcome"], f"{key}.outcome", OUTCOMES)
    raises = outcome == "raises"
    for name in ("error_type", "error"):
        if raises and name not in row:
            raise r.fail(f"{key}.{name}", 'required when outcome = "raises"', "the exception's type and message")
        if not raises and name in row:
            raise r.fail(f"{key}.{name}", 'only allowed with outcome = "raises"')
    r.nonempty(row["observed"], f"{key}.observed", "the versions this row was seen on, e.g. ['3.15.1']")
    observed = tuple(r.version(v, f"{key}.observed[{i}]", "3.15.1") for i, v in enumerate(row["observed"]))
    versions = r.specifier(row["versions"], f"{key}.versions")
    for i, v in enumerate(observed):
        if not versions.contains(v, prereleases=True):
            raise r.fail(
                f"{key}.observed[{i}]", f"{v} is outside versions {versions}", "versions inside the row's range"
            )
    regression = row.get("regression")
    for name in ("workaround", "requirement"):
        if name in row and regression is None:
            raise r.fail(f"{key}.{name}", "only allowed with regression", "a regression = 'issue reference' key")
    if regression is not None and "workaround" not in row:
        raise r.fail(f"{key}.workaround", "required with regression", "the command or code change that avoids it")
    requirement = row.get("requirement")
    if requirement is not None:
        r.choice(requirement, f"{key}.requirement", REQUIREMENTS)
    return KnownRow(
        key=key,
        behaviour=behaviour,
        package=r.choice(row["package"], f"{key}.package", PACKAGES),
        versions=versions,
        outcome=outcome,
        observed=observed,
        error_type=row.get("error_type"),
        error=row.get("error"),
        values=dict(row.get("values", {})),
        ranges=_ranges(r, row.get("ranges", {}), f"{key}.ranges"),
        regression=regression,
        workaround=row.get("workaround"),
        requirement=requirement,
        notes=row_notes(row),
    )


def _ranges(r: Reader, table: dict[str, Any], key: str) -> dict[str, tuple[float, float]]:
    out = {}
    for name, value in table.items():
        numbers = isinstance(value, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        )
        if not numbers or len(value) != 2 or not all(math.isfinite(v) for v in value) or value[0] > value[1]:
            raise r.fail(f"{key}.{name}", f"{value!r} is not a range", "[low, high] with low <= high, e.g. [0.0, 1.5]")
        out[name] = (float(value[0]), float(value[1]))
    return out


def error_matches(pattern: str, text: str) -> bool:
    """Whether `text` matches `pattern`, where `*` is any text and the rest is literal.

    Not fnmatch: TensorFlow's messages hold `[`, `]` and `{{`, which fnmatch would read as syntax.
    """
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, re.DOTALL) is not None


def differences(row: KnownRow, obs: Observation) -> list[str]:
    """How the observation differs from the row; empty when it matches."""
    if obs.outcome != row.outcome:
        return [f"outcome: expected {row.outcome!r}, found {obs.outcome!r}"]
    found = []
    if row.outcome == "raises":
        if obs.error_type != row.error_type:
            found.append(f"error type: expected {row.error_type}, found {obs.error_type}")
        elif row.error is not None and not error_matches(row.error, obs.error or ""):
            found.append(f"error: expected {row.error!r}, found {first_line(obs.error or '')!r}")
    for name, want in row.values.items():
        got = obs.values.get(name)
        if got != want:
            found.append(f"{name}: expected {want!r}, found {got!r}")
    for name, (lo, hi) in row.ranges.items():
        got = obs.measures.get(name)
        if got is None or not lo <= got <= hi:
            found.append(f"{name}: expected within [{lo:g}, {hi:g}], found {got if got is None else f'{got:.4g}'}")
    return found


def first_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of an error message, shortened."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def application_requires(application: ApplicationExpectation, row: KnownRow) -> bool:
    """Whether the profile's `[application]` table turns this row's known regression into a failure."""
    return row.requirement is not None and bool(getattr(application, row.requirement))
