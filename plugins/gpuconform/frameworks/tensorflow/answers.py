"""An experiment's answer from a TensorFlow child batch, or an error for the check that needs it.

Call it from a fixture: `could_not_check` raised there makes pytest report the
check as an error (it could not run), never as a failure of the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gpuconform.frameworks.children import Batch
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import experiment_raised


def answer(batch: Batch, name: str) -> Any:
    """The JSON value experiment `name` returned; CouldNotCheck when TF did not import, crashed or it raised."""
    if batch.import_error:
        could_not_check("TensorFlow", f"import tensorflow failed: {batch.import_error}")
    result = batch[name]
    if result.crash is not None:
        could_not_check(f"TensorFlow ({batch.module}.{name})", f"{result.crash.kind}: {result.crash.message}")
    if not result.ok:
        experiment_raised(f"TensorFlow ({batch.module}.{name})", result.error_type, result.error)
    return result.value


def answer_fixture(
    name: str, batch_fixture: str, convert: Callable[[Any], Any] = lambda value: value, *, fixture_name: str = ""
) -> Any:
    """A fixture called `name` (or `fixture_name`) that gives experiment `name`'s answer from the batch of fixture
    `batch_fixture`."""

    @pytest.fixture(name=fixture_name or name)
    def fixture(request: pytest.FixtureRequest) -> Any:
        value = answer(request.getfixturevalue(batch_fixture), name)
        try:
            return convert(value)
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            could_not_check(f"TensorFlow ({name})", f"the experiment answered in an unexpected shape: {exc!r}")

    return fixture
