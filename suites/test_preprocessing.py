"""Layer `preprocessing`: do the Keras image-loading paths behave as this Keras version is known to?

One TensorFlow child runs every behaviour for real on generated images
(`gpuconform.frameworks.tensorflow.experiments.preprocessing`): load_img from each kind of input and with
each interpolation, truncated JPEG/PNG files, resize skew between PIL and
tf.image.resize, image_dataset_from_directory on a small tree, ImageDataGenerator.
Each observation is compared with the row of `matrices/keras_preprocessing.toml`
for the package and version that produced it (`gpuconform.expect.tables.keras_preprocessing`):

- as the row says, no regression: pass;
- as the row says, a known regression: xfail (strict) naming the issue and the
  workaround; a failure instead when the profile's `[application]` table says the
  application needs that behaviour (e.g. `file_like_uploads = true`);
- not as the row says (fixed, or newly broken): a failure that says to update the
  matrix or pin;
- no row for this version: a warning (the matrix is older than the package).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import NoReturn

import pytest

from gpuconform.expect.expectations import Expectations
from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.tables.keras_preprocessing import BEHAVIOURS
from gpuconform.expect.tables.keras_preprocessing import DATASET_CORRUPTIONS
from gpuconform.expect.tables.keras_preprocessing import EXPERIMENTS
from gpuconform.expect.tables.keras_preprocessing import IMAGE_FORMATS
from gpuconform.expect.tables.keras_preprocessing import INTERPOLATIONS
from gpuconform.expect.tables.keras_preprocessing import LAYERS
from gpuconform.expect.tables.keras_preprocessing import LOAD_INPUTS
from gpuconform.expect.tables.keras_preprocessing import SKEWS
from gpuconform.expect.tables.keras_preprocessing import KerasMatrix
from gpuconform.expect.tables.keras_preprocessing import KnownRegression
from gpuconform.expect.tables.keras_preprocessing import Lacking
from gpuconform.expect.tables.keras_preprocessing import Observation
from gpuconform.expect.tables.keras_preprocessing import application_requires
from gpuconform.expect.tables.keras_preprocessing import differences
from gpuconform.expect.tables.keras_preprocessing import first_line
from gpuconform.expect.tables.keras_preprocessing import load_keras_matrix
from gpuconform.expect.tables.keras_preprocessing import observations
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import Facts
from gpuconform.facts.model import PackageInfo
from gpuconform.frameworks import framework
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import Planned
from gpuconform.frameworks.keras import BACKENDS
from gpuconform.frameworks.keras import KerasBackend
from gpuconform.frameworks.keras import keras_3
from gpuconform.frameworks.keras import tf_keras_is_keras_3
from gpuconform.frameworks.keras.framework import BACKEND_VARIABLE
from gpuconform.frameworks.live import LiveChildren
from gpuconform.frameworks.needs import judged
from gpuconform.frameworks.needs import need_of
from gpuconform.frameworks.needs import running_checks
from gpuconform.frameworks.tensorflow import LiveTf
from gpuconform.frameworks.tensorflow import answer_fixture
from gpuconform.plugin.frameworks import live_framework
from gpuconform.verdict.check import Finding
from gpuconform.verdict.check import blocked
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import experiment_raised
from gpuconform.verdict.check import fail
from gpuconform.verdict.check import fail_with
from gpuconform.verdict.check import not_applicable

pytestmark = pytest.mark.preprocessing

MODULE = "preprocessing"
PREPROCESSING_CHILD = Planned(MODULE, EXPERIMENTS)  # started when collection ends (`gpuconform.plugin.early`)
TF_KERAS = "tf.keras"  # the Keras that tf.keras resolves to: keras 2, keras 3 or tf-keras
STANDALONE = "keras_preprocessing"
Observed = dict[tuple[str, str], Observation] | Lacking
Judge = Callable[..., None]  # (observed, loader, behaviour, *, where=..., need=..., backend=...)


# ---- fixtures: one child for the whole layer ------------------------------------------------


@pytest.fixture(scope="session")
def keras_matrix() -> KerasMatrix:
    try:
        return load_keras_matrix()
    except DataError as exc:  # a bad matrix (or $GPUCONFORM_KERAS_MATRIX) is bad input: a usage error
        pytest.exit(f"gpuconform: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture
def preprocessing_child(
    request: pytest.FixtureRequest,
    tf_live: LiveTf,
    keras_matrix: KerasMatrix,
    host_facts: Facts,
    host_expect: Expectations,
) -> Batch:
    _require_pillow(host_facts, host_expect)
    _require_tf_keras_to_import(request.config, host_facts)
    return tf_live.batch(*PREPROCESSING_CHILD.args())


def _require_tf_keras_to_import(config: pytest.Config, host_facts: Facts) -> None:
    """Block the tf.keras checks where tf.keras is a Keras 3 that does not import under this host's settings
    (KERAS_BACKEND=torch without torch): its own check is the root, not each behaviour's "Keras cannot be
    imported"."""
    packages = host_facts.packages
    if not tf_keras_is_keras_3(packages.tensorflow, packages.keras, dict(host_facts.platform.environment)):
        return
    try:
        batch = live_framework(config, "keras", packages.keras).batch(*KERAS_DEFAULT_CHILD.args())
    except pytest.skip.Exception:  # replaying a file that did not record it: nothing to block on
        return
    if batch.import_error:
        blocked(DEFAULT_BACKEND_CHECK, _default_import_fails(batch.import_error))


PILLOW_CHECK = "preprocessing::pillow_is_installed_for_image_loading"


def _pillow_installed(host_facts: Facts) -> bool:
    return any(p.name == "pillow" for p in host_facts.packages.others)


def _needs_images(host_expect: Expectations) -> bool:
    app = host_expect.profile.application
    return app.file_like_uploads or app.image_data_generator


def _require_pillow(host_facts: Facts, host_expect: Expectations) -> None:
    # TensorFlow does not depend on Pillow, but every Keras image loader does.
    if _pillow_installed(host_facts):
        return
    if _needs_images(host_expect):
        blocked(PILLOW_CHECK, "Pillow is not installed")
    not_applicable("Pillow is not installed, so Keras cannot load images here (pip install pillow to check this layer)")


def test_pillow_is_installed_for_image_loading(host_facts: Facts, host_expect: Expectations) -> None:
    if _pillow_installed(host_facts):
        return
    if not _needs_images(host_expect):
        not_applicable(
            "Pillow is not installed and the profile declares no image loading ([application]); "
            "pip install pillow to check this layer"
        )
    fail(
        "Pillow is not installed, but the application loads images with Keras",
        expected=f"Pillow installed (profile {host_expect.profile.name!r} declares [application] image loading)",
        found="no pillow distribution",
        source="Python package metadata (importlib.metadata)",
        why="keras.utils.load_img, image_dataset_from_directory and ImageDataGenerator import PIL and fail without it",
        fix="pip install pillow",
    )


def _experiment(name: str) -> Any:
    """Fixture `name`: experiment `name`'s observations; or, where the installed release predates an API the
    experiment calls (the matrix's [[introduced]] rows), a `Lacking` answer, without starting the child."""
    observed = answer_fixture(name, "preprocessing_child", observations, fixture_name=f"{name}_observed")

    @pytest.fixture(name=name)
    def fixture(keras_matrix: KerasMatrix, host_facts: Facts, request: pytest.FixtureRequest) -> Observed:
        lacking = keras_matrix.lacking(name, host_facts.packages)
        return lacking if lacking is not None else request.getfixturevalue(f"{name}_observed")

    return observed, fixture


load_img_inputs_observed, load_img_inputs = _experiment("load_img_inputs")
interpolations_observed, interpolations = _experiment("interpolations")
truncated_images_observed, truncated_images = _experiment("truncated_images")
resize_skew_observed, resize_skew = _experiment("resize_skew")
image_dataset_observed, image_dataset = _experiment("image_dataset")
image_data_generator_observed, image_data_generator = _experiment("image_data_generator")


@pytest.fixture
def judge(
    keras_matrix: KerasMatrix, host_expect: Expectations, request: pytest.FixtureRequest, host_warn: Any
) -> Judge:
    """Compare one observation with its matrix row: pass, xfail as a known regression, or fail."""
    profile = host_expect.profile
    table = f"matrices/keras_preprocessing.toml ({keras_matrix.meta.source}, as of {keras_matrix.meta.as_of})"

    def compare(
        observed: Observed,
        loader: str,
        behaviour: str,
        *,
        where: str = "a TensorFlow child",
        need: FrameworkNeed | None = None,
        backend: str | None = None,
    ) -> None:
        """`need`: the framework a Keras backend is (its failures warn where the profile does not require it)."""
        if isinstance(observed, Lacking):
            _lacks_the_api(observed, BEHAVIOURS[behaviour], table)
        obs = observed.get((loader, behaviour))
        if obs is None:
            could_not_check(behaviour, f"the experiment returned no observation for {loader}")
        if obs.outcome == "not-run":
            not_applicable(obs.reason)
        what, who = BEHAVIOURS[behaviour], f"{obs.package} {obs.version}"
        if backend is not None:
            who += f" on the {backend} backend"
        source = f"{obs.call} in {where}"
        row = keras_matrix.lookup(behaviour, obs.package, obs.version)
        if row is None:
            host_warn(
                f"{table} has no row for {what} with {who}",
                expected=f"a [[known]] row with behaviour = {behaviour!r}, package = {obs.package!r} "
                f"and versions that hold {obs.version}",
                found=obs.describe(),
                source=source,
                fix=f"add that row to {keras_matrix.meta.source} with what was found",
            )
            return
        found = differences(row, obs)
        if found:
            changed = Finding(
                f"{what} changed with {who}: it no longer behaves as {row.key} of the matrix says",
                expected=f"{row.describe()} ({row.key}: {row.package} {row.versions}, seen on "
                f"{', '.join(map(str, row.observed))})",
                found=f"{obs.describe()} ({'; '.join(found)})",
                source=source,
                why="the matrix records how each version behaves, so that a known regression is told apart from a "
                f"new one; a difference is a fix or a new breakage in {who}",
                fix=f"update the matrix or pin: if {who} is meant to behave like this, edit {row.key} in "
                f"{keras_matrix.meta.source} (or add a row for {obs.version}); otherwise pip install '{row.pin}'",
            )
            fail_with(changed) if need is None else judged(need, changed, host_warn)
            return
        if row.regression is None:
            return
        if application_requires(profile.application, row):
            relied = Finding(
                f"{what} fails with {who}, and profile {profile.name!r} says the application relies on it",
                expected=f"{what} works ([application] {row.requirement} = true in {profile.source or profile.name})",
                found=obs.describe(),
                source=source,
                why=f"a known regression ({row.key}): {row.regression}",
                fix=row.workaround or "",
            )
            fail_with(relied) if need is None else judged(need, relied, host_warn)
            return
        reason = f"known regression with {who} ({row.key}): {row.regression}; workaround: {row.workaround}"
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True, raises=KnownRegression))
        raise KnownRegression(f"{what}: {obs.describe()}\n{reason}")

    return compare


def _lacks_the_api(lacking: Lacking, what: str, table: str) -> NoReturn:
    row, installed = lacking.row, lacking.installed
    who = f"{installed.name} {installed.version}"
    before = f"; before that release {row.before}" if row.before else ""
    fail(
        f"{what}: {row.api} does not exist in {who}; it first shipped in {row.package} {row.since}",
        expected=f"{row.package} >= {row.since}, the first release with {row.api} ({row.key} of {table})",
        found=f"{who} installed",
        source=f"Python package metadata (importlib.metadata); {row.source}",
        why=f"calling it in {who} raises {row.error}",
        fix=f"pip install --upgrade '{installed.name}>={row.since}' ({row.api} first shipped in {row.package} "
        f"{row.since}{before})",
    )


# ---- load_img -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", list(LOAD_INPUTS))
def test_load_img_reads_an_image_from(source: str, load_img_inputs: Observed, judge: Judge) -> None:
    judge(load_img_inputs, TF_KERAS, f"load_img.{source}")


@pytest.mark.parametrize("source", list(LOAD_INPUTS))
def test_keras_preprocessing_load_img_reads_an_image_from(source: str, load_img_inputs: Observed, judge: Judge) -> None:
    judge(load_img_inputs, STANDALONE, f"load_img.{source}")


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_load_img_resizes_like_pil_with(interpolation: str, interpolations: Observed, judge: Judge) -> None:
    judge(interpolations, TF_KERAS, f"load_img.interpolation.{interpolation}")


def test_load_img_uses_its_documented_default_interpolation(interpolations: Observed, judge: Judge) -> None:
    judge(interpolations, TF_KERAS, "load_img.default_interpolation")


def test_load_img_refuses_an_unknown_interpolation(interpolations: Observed, judge: Judge) -> None:
    judge(interpolations, TF_KERAS, "load_img.unknown_interpolation")


# ---- truncated files ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_load_img_on_a_truncated_image_fails_where_the_matrix_says(
    fmt: str, truncated_images: Observed, judge: Judge
) -> None:
    judge(truncated_images, TF_KERAS, f"truncated_{fmt}.load_img")


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_load_img_with_target_size_on_a_truncated_image_fails_where_the_matrix_says(
    fmt: str, truncated_images: Observed, judge: Judge
) -> None:
    judge(truncated_images, TF_KERAS, f"truncated_{fmt}.load_img_target_size")


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_load_truncated_images_lets_pil_read_a_truncated_image(
    fmt: str, truncated_images: Observed, judge: Judge
) -> None:
    judge(truncated_images, TF_KERAS, f"truncated_{fmt}.load_truncated_images")


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_tensorflow_decodes_a_truncated_image_as_the_matrix_says(
    fmt: str, truncated_images: Observed, judge: Judge
) -> None:
    judge(truncated_images, TF_KERAS, f"truncated_{fmt}.tf_decode")


# ---- resizing -----------------------------------------------------------------------------


@pytest.mark.parametrize("pair", list(SKEWS))
def test_resize_skew_stays_within_the_matrix_thresholds(pair: str, resize_skew: Observed, judge: Judge) -> None:
    judge(resize_skew, TF_KERAS, f"resize_skew.{pair}")


# ---- image_dataset_from_directory ---------------------------------------------------------


def test_image_dataset_from_directory_names_classes_in_sorted_order(image_dataset: Observed, judge: Judge) -> None:
    judge(image_dataset, TF_KERAS, "image_dataset.class_names")


def test_image_dataset_from_directory_labels_files_by_class(image_dataset: Observed, judge: Judge) -> None:
    judge(image_dataset, TF_KERAS, "image_dataset.labels")


def test_image_dataset_from_directory_keeps_file_order_without_shuffle(image_dataset: Observed, judge: Judge) -> None:
    judge(image_dataset, TF_KERAS, "image_dataset.file_order")


def test_image_dataset_from_directory_yields_float32_batches_of_the_requested_size(
    image_dataset: Observed, judge: Judge
) -> None:
    judge(image_dataset, TF_KERAS, "image_dataset.batches")


@pytest.mark.parametrize("corruption", list(DATASET_CORRUPTIONS))
def test_image_dataset_from_directory_on_a_corrupt_file_fails_as_the_matrix_says(
    corruption: str, image_dataset: Observed, judge: Judge
) -> None:
    judge(image_dataset, TF_KERAS, f"image_dataset.{corruption}")


# ---- ImageDataGenerator -------------------------------------------------------------------


def test_image_data_generator_imports_from_tf_keras(image_data_generator: Observed, judge: Judge) -> None:
    judge(image_data_generator, TF_KERAS, "image_data_generator.from_tf_keras")


def test_image_data_generator_imports_from_the_keras_package(image_data_generator: Observed, judge: Judge) -> None:
    judge(image_data_generator, TF_KERAS, "image_data_generator.from_package")


def test_keras_preprocessing_image_data_generator_imports(image_data_generator: Observed, judge: Judge) -> None:
    judge(image_data_generator, STANDALONE, "image_data_generator.from_package")


def test_flow_from_directory_reads_the_tree(image_data_generator: Observed, judge: Judge) -> None:
    # One behaviour or the other, by whether SciPy is installed (Keras 2.12-2.15 need it here).
    with_scipy = (TF_KERAS, "image_data_generator.flow_from_directory")
    judge(
        image_data_generator,
        TF_KERAS,
        with_scipy[1] if with_scipy in image_data_generator else with_scipy[1] + "_without_scipy",
    )


# ---- Keras 3 under each backend -------------------------------------------------------------
# Keras 3 runs on TensorFlow, PyTorch or JAX, chosen by KERAS_BACKEND (else keras.json's
# "backend") once, while keras imports. One Keras child per backend, KERAS_BACKEND set in its
# environment before keras imports (forked from TensorFlow's zygote, which imported keras, where
# TensorFlow is installed; else a zygote per backend: `gpuconform.frameworks.keras`), says which
# backend it runs on and runs what Keras promises alike on every backend: its image utilities
# (Pillow and NumPy under any backend, judged by the Keras 3 rows the TensorFlow child's tf.keras is
# judged by) and its preprocessing layers (against NumPy). A backend's checks apply where Keras 3
# and that backend are installed, and count as its framework counts
# (`gpuconform.frameworks.needs.judged`: warnings unless required).

KERAS_MODULE = "preprocessing"
#: `backend` first: which backend the child runs on is the first answer of the same child.
KERAS_EXPERIMENTS = ("backend", "load_img_inputs", "interpolations", "truncated_images", "layers")
BACKEND_CHECK = "preprocessing::keras_runs_on_the_requested_backend"
DEFAULT_BACKEND_CHECK = "preprocessing::keras_imports_with_this_hosts_backend_settings"
KERAS_LAYERS = [name for name in LAYERS if name.startswith(("rescaling", "normalization", "center", "resizing"))]


@dataclass(frozen=True)
class KerasRun:
    """Keras 3's children under one backend, and how that backend's framework counts on this profile."""

    backend: str
    live: LiveChildren
    need: FrameworkNeed

    @property
    def env(self) -> dict[str, str]:
        return {BACKEND_VARIABLE: self.backend}

    @property
    def where(self) -> str:
        return f"a Keras child with KERAS_BACKEND={self.backend}"


#: Each backend's checks wait on that framework's own import check (the framework layer, which runs first):
#: where the framework itself does not import, they are blocked by it instead of failing beside it.
BACKEND_PARAMS = [pytest.param(b, marks=pytest.mark.depends_on(*running_checks(b)), id=b) for b in BACKENDS]

#: Started when collection ends, beside the TensorFlow child, where Keras 3 and the backend are installed on a
#: profile without GPUs (`gpuconform.plugin.early`); a backend's checks where it is not installed do not apply.
KERAS_TENSORFLOW_CHILD = Planned(
    KERAS_MODULE, KERAS_EXPERIMENTS, {BACKEND_VARIABLE: "tensorflow"}, framework="keras", needs="tensorflow"
)
KERAS_TORCH_CHILD = Planned(
    KERAS_MODULE, KERAS_EXPERIMENTS, {BACKEND_VARIABLE: "torch"}, framework="keras", needs="torch"
)
KERAS_JAX_CHILD = Planned(KERAS_MODULE, KERAS_EXPERIMENTS, {BACKEND_VARIABLE: "jax"}, framework="keras", needs="jax")
KERAS_DEFAULT_CHILD = Planned("backend", ("backend",), framework="keras")


def _keras3(host_facts: Facts) -> PackageInfo:
    keras = host_facts.packages.keras
    if keras is None:
        not_applicable("Keras 3 is not installed (no keras distribution), and the backends are Keras 3's")
    if not keras_3(keras):
        not_applicable(f"keras {keras.version} is Keras 2, which runs on TensorFlow alone; the backends are Keras 3's")
    return keras


@pytest.fixture
def keras_run(backend: str, request: pytest.FixtureRequest, host_facts: Facts, host_expect: Expectations) -> KerasRun:
    keras = _keras3(host_facts)
    need = need_of(backend, host_expect.profile, host_facts.packages)
    if need.installed is None:  # required: its framework's import check fails with the pip command
        not_applicable(f"{framework(backend).name} is not installed, so Keras cannot run on it here")
    return KerasRun(backend, live_framework(request.config, "keras", keras), need)


@pytest.fixture
def keras_judge(judge: Judge, host_facts: Facts, host_expect: Expectations) -> Callable[[KerasRun, str, str], None]:
    """Judge one behaviour of a Keras child by its matrix row, as the TensorFlow child's are."""

    def compare(run: KerasRun, experiment: str, behaviour: str) -> None:
        _require_pillow(host_facts, host_expect)  # every Keras experiment module loads images with it
        batch = run.live.batch(KERAS_MODULE, KERAS_EXPERIMENTS, run.env)
        if batch.import_error:
            blocked(f"{BACKEND_CHECK}[{run.backend}]", f"import keras fails with KERAS_BACKEND={run.backend}")
        result, what = batch[experiment], f"Keras on {run.backend} ({experiment})"
        if result.crash is not None:
            could_not_check(what, f"{result.crash.kind}: {result.crash.message}", source=run.where)
        if not result.ok:
            experiment_raised(what, result.error_type, result.error, source=run.where)
        try:
            observed = observations(result.value)
        except (TypeError, KeyError, ValueError) as exc:
            could_not_check(what, f"the experiment answered in an unexpected shape: {exc!r}", source=run.where)
        judge(observed, "keras", behaviour, where=run.where, need=run.need, backend=run.backend)

    return compare


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_keras_runs_on_the_requested_backend(keras_run: KerasRun, host_warn: Any) -> None:
    run, installed = keras_run, keras_run.live.installed
    batch = run.live.batch(KERAS_MODULE, KERAS_EXPERIMENTS, run.env)
    source = run.live.source(KERAS_MODULE)
    if batch.import_error:
        failed = Finding(
            f"import keras fails with KERAS_BACKEND={run.backend}: {first_line(batch.import_error)}",
            expected=f"keras {installed.version} imports and runs on {run.backend}",
            found=batch.import_error,
            source=source,
            why=f"every Keras program on this host that asks for the {run.backend} backend fails the same way",
            fix=f"see why {framework(run.backend).name} itself does not import (the framework layer's import check); "
            f"then pip install --force-reinstall '{installed.name}=={installed.version}'",
        )
        judged(run.need, failed, host_warn)
        return
    found = run.live.observe(batch, "backend", KerasBackend)
    if found.backend == run.backend:
        return
    wrong = Finding(
        f"Keras runs on {found.backend!r}, not on the {run.backend!r} that KERAS_BACKEND asked for before it imported",
        expected=f"keras.backend.backend() == {run.backend!r}",
        found=f"keras.backend.backend() = {found.backend!r}; KERAS_BACKEND = {found.requested!r} in the child; "
        f"keras.json's backend = {found.config_backend!r}",
        source=source,
        why='Keras picks its backend once, while keras first imports: keras.json\'s "backend", then KERAS_BACKEND '
        "over it when set and not empty (keras/src/backend/config.py); another backend means keras was imported "
        "before the variable was read (a sitecustomize or .pth file importing it): programs get a backend they did "
        "not ask for",
        fix="find what imports keras at start-up (python -X importtime -c pass 2>&1 | grep keras); in a program or "
        "notebook, set KERAS_BACKEND before the first import keras (restart the kernel after changing it)",
    )
    judged(run.need, wrong, host_warn)


def test_keras_imports_with_this_hosts_backend_settings(
    request: pytest.FixtureRequest, host_facts: Facts, host_warn: Any
) -> None:
    """Keras imports with the backend this environment's own KERAS_BACKEND or keras.json chooses."""
    live = live_framework(request.config, "keras", _keras3(host_facts))
    batch = live.batch(*KERAS_DEFAULT_CHILD.args())
    if not batch.import_error:
        _warn_where_tf_keras_leaves_tensorflow(live.observe(batch, "backend", KerasBackend), host_facts, host_warn)
        return
    fail(
        _default_import_fails(batch.import_error),
        expected='KERAS_BACKEND (where set) or else keras.json\'s "backend" (in KERAS_HOME, else ~/.keras) names an '
        f"installed backend: {', '.join(BACKENDS)} (Keras also knows numpy and openvino)",
        found=batch.import_error,
        source=f"{live.source('backend')}, with this run's environment and keras.json",
        why="Keras picks its backend while keras first imports (keras/src/backend/config.py); a name it does not know "
        "raises 'Unable to import backend', one not installed fails to import: every program importing keras "
        "(and tf.keras from TensorFlow 2.16) fails the same way",
        fix='correct KERAS_BACKEND (echo $KERAS_BACKEND) or keras.json\'s "backend" to an installed backend, '
        "e.g. export KERAS_BACKEND=tensorflow",
    )


def _default_import_fails(error: str) -> str:
    return f"import keras fails with this host's backend settings: {first_line(error)}"


def _warn_where_tf_keras_leaves_tensorflow(found: KerasBackend, host_facts: Facts, host_warn: Any) -> None:
    """A warning where this host's settings put tf.keras, in every TensorFlow program, on another backend."""
    packages, environment = host_facts.packages, dict(host_facts.platform.environment)
    if found.backend == "tensorflow" or not tf_keras_is_keras_3(packages.tensorflow, packages.keras, environment):
        return
    host_warn(
        f"tf.keras runs on {found.backend!r} on this host, not on TensorFlow: a TensorFlow program that calls a Keras "
        "model on tf.Tensors (in a tf.function, a tf.data map, a SavedModel export) fails",
        expected="keras.backend.backend() == 'tensorflow' where TensorFlow programs use tf.keras",
        found=f"keras.backend.backend() = {found.backend!r}; KERAS_BACKEND = {found.requested!r}; "
        f"keras.json's backend = {found.config_backend!r}",
        source="a Keras child with this run's environment and keras.json",
        why="from TensorFlow 2.16 tf.keras is Keras 3, whose backend KERAS_BACKEND (else keras.json) chooses once for "
        "every program; on JAX or PyTorch a Keras model traced by TensorFlow gets symbolic tensors it cannot convert "
        "('Cannot convert a symbolic tf.Tensor (images:0) to a numpy array', TensorFlow 2.21 and Keras 3.15.1 under "
        "KERAS_BACKEND=jax). The determinism layer runs TensorFlow's model with KERAS_BACKEND=tensorflow",
        fix="export KERAS_BACKEND=tensorflow for TensorFlow programs (or unset it where keras.json says tensorflow), "
        "or pip install tf-keras and export TF_USE_LEGACY_KERAS=1; a host meant for Keras on "
        f"{found.backend} can keep it",
    )


@pytest.mark.parametrize("source", list(LOAD_INPUTS))
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_keras_load_img_reads_an_image_from(source: str, keras_run: KerasRun, keras_judge: Any) -> None:
    keras_judge(keras_run, "load_img_inputs", f"load_img.{source}")


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_keras_load_img_resizes_like_pil_with(interpolation: str, keras_run: KerasRun, keras_judge: Any) -> None:
    keras_judge(keras_run, "interpolations", f"load_img.interpolation.{interpolation}")


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_keras_load_img_uses_its_documented_default_interpolation(keras_run: KerasRun, keras_judge: Any) -> None:
    keras_judge(keras_run, "interpolations", "load_img.default_interpolation")


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_keras_load_img_refuses_an_unknown_interpolation(keras_run: KerasRun, keras_judge: Any) -> None:
    keras_judge(keras_run, "interpolations", "load_img.unknown_interpolation")


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_keras_load_img_on_a_truncated_image_fails_where_the_matrix_says(
    fmt: str, keras_run: KerasRun, keras_judge: Any
) -> None:
    keras_judge(keras_run, "truncated_images", f"truncated_{fmt}.load_img")


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_keras_load_img_with_target_size_on_a_truncated_image_fails_where_the_matrix_says(
    fmt: str, keras_run: KerasRun, keras_judge: Any
) -> None:
    keras_judge(keras_run, "truncated_images", f"truncated_{fmt}.load_img_target_size")


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_keras_load_truncated_images_lets_pil_read_a_truncated_image(
    fmt: str, keras_run: KerasRun, keras_judge: Any
) -> None:
    keras_judge(keras_run, "truncated_images", f"truncated_{fmt}.load_truncated_images")


@pytest.mark.parametrize("layer", KERAS_LAYERS)
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_keras_preprocessing_layer_agrees_with_numpy(layer: str, keras_run: KerasRun, keras_judge: Any) -> None:
    keras_judge(keras_run, "layers", f"layers.{layer}")


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_keras_text_vectorization_maps_words_to_ids(keras_run: KerasRun, keras_judge: Any, host_facts: Facts) -> None:
    # One behaviour or the other, by whether TensorFlow is installed (TextVectorization runs on it, any backend).
    with_tf = host_facts.packages.tensorflow is not None
    keras_judge(keras_run, "layers", "layers.text_vectorization" + ("" if with_tf else "_without_tensorflow"))
