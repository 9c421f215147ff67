"""Keras 3's children forked from TensorFlow's zygote, as guests, answer as in Keras's own zygotes.

Real TensorFlow and Keras 3 (the cpu extra): `import tensorflow` imports keras, so a Keras child
forked from TensorFlow's plain zygote has nothing left to import for the backend the host's
settings choose, and imports keras again for another (`gpuconform.frameworks.keras.experiments.child`).
Each case runs the same batch in both and compares what the children said; the backends are
TensorFlow's and Keras's own NumPy backend (which needs SciPy: where it is missing, both say so
alike). Where a guest cannot
run as a fresh child would (keras imported when the interpreter started, under another backend;
a host framework that does not import or kills its zygote), the batch runs in Keras's own zygote.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuconform.frameworks import framework
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import Runner

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None,
    reason="needs TensorFlow and Keras 3 (the cpu extra)",
)

GUESTS = Path(__file__).parent / "guests"
KERAS = framework("keras")
BACKEND = ("backend", ("backend",))
#: The layers experiment computes on the backend's own ops: the same numbers in a guest and in a child of its own.
LAYERS = ("preprocessing", ("backend", "layers"))
TF_CHILD = "gpuconform.frameworks.tensorflow.experiments.child"
KERAS_CHILD = "gpuconform.frameworks.keras.experiments.child"


def runners(host_id: str = "tensorflow") -> tuple[Runner, Runner, Runner]:
    """(a Keras runner with `host_id`'s runner as its host, that host, a Keras runner of its own)."""
    host = Runner(framework(host_id), timeout=600, concurrency=2)
    guest = Runner(KERAS, timeout=600, concurrency=2, host=host)
    return guest, host, Runner(KERAS, timeout=600, concurrency=2)


@pytest.fixture
def three(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runner, Runner, Runner]]:
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    made = runners()
    yield made
    for runner in made:
        runner.close()


def _pythonpath() -> list[str]:
    return list(filter(None, [os.environ.get("PYTHONPATH")]))


def forked_from(batch: Batch) -> str:
    """The child module of the zygote that forked this batch's child."""
    argv = list(batch.child.argv)
    assert "--zygote" in argv, argv
    return argv[argv.index("-m") + 1]


def answers(batch: Batch) -> dict[str, object]:
    """What each experiment answered (the import: whether it worked, and what it raised)."""
    assert batch.crash_text is None, batch.log[-3000:]
    return {
        name: (r.ok, None if name == "__import__" else r.value, r.error_type, r.error)
        for name, r in batch.results.items()
    }


def backend_of(batch: Batch) -> str | None:
    """The backend the child ran on; None where keras did not import (the NumPy backend without SciPy)."""
    result = batch.results["backend"]
    return str(result.value["backend"]) if result.ok else None


@pytest.mark.parametrize("env", [{}, {"KERAS_BACKEND": "tensorflow"}, {"KERAS_BACKEND": "numpy"}])
def test_a_keras_child_forked_from_tensorflows_zygote_answers_as_one_of_keras_own_zygotes(
    three: tuple[Runner, Runner, Runner], env: dict[str, str]
) -> None:
    guest, _, own = three
    as_guest, as_own = guest.batch(*LAYERS, env), own.batch(*LAYERS, env)
    assert (forked_from(as_guest), forked_from(as_own)) == (TF_CHILD, KERAS_CHILD)
    assert answers(as_guest) == answers(as_own)
    scipy = importlib.util.find_spec("scipy") is not None
    expected = env.get("KERAS_BACKEND", "tensorflow")
    assert backend_of(as_guest) == (expected if scipy or expected != "numpy" else None)


def test_keras_imported_when_the_interpreter_started_runs_in_its_own_zygote_under_another_backend(
    three: tuple[Runner, Runner, Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sitecustomize imports keras before any of our code, under the host's settings (tensorflow):
    # a guest cannot import it again as that start-up would have under KERAS_BACKEND=numpy.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(GUESTS / "keras_at_start"), *_pythonpath()]))
    guest, _, own = three
    numpy_backend = guest.batch(*BACKEND, {"KERAS_BACKEND": "numpy"})
    assert forked_from(numpy_backend) == KERAS_CHILD
    assert answers(numpy_backend) == answers(own.batch(*BACKEND, {"KERAS_BACKEND": "numpy"}))
    same = guest.batch(*BACKEND, {"KERAS_BACKEND": "tensorflow"})  # the backend it started with: still a guest
    assert forked_from(same) == TF_CHILD
    assert backend_of(same) == "tensorflow"


@pytest.mark.parametrize("stub", ["torch_fails", "torch_dies"])
def test_a_host_framework_that_fails_or_dies_importing_leaves_keras_to_its_own_zygote(
    stub: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A torch that raises while importing (the zygote lives on, its children decline) or kills the
    # zygote (it never reports): either way Keras's answer is Keras's, not the host's failure.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(GUESTS / stub), *_pythonpath()]))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    guest, host, own = runners("torch")
    try:
        batch = guest.batch(*BACKEND, {"KERAS_BACKEND": "tensorflow"})
        assert forked_from(batch) == KERAS_CHILD
        assert backend_of(batch) == "tensorflow"
        assert host.batch("framework", ("identity",)).import_error is not None  # the host's own children fail
    finally:
        for runner in (guest, host, own):
            runner.close()
