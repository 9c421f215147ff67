"""A framework's error of many lines becomes one line for a summary and the verdict (`gpuconform.facts.text`).

The texts are what the frameworks raised here: TensorFlow 2.21's "in user code:" error for a Keras 3
model on the jax backend called inside a tf.function (KERAS_BACKEND=jax on a TensorFlow host), with
Keras's ANSI bold.
"""

from __future__ import annotations

from gpuconform.facts.text import HEADLINE
from gpuconform.facts.text import headline
from gpuconform.facts.text import plain
from gpuconform.verdict.check import CouldNotCheck
from gpuconform.verdict.check import experiment_raised

IN_USER_CODE = """in user code:

    File "/venv/site-packages/gpuconform/frameworks/tensorflow/experiments/determinism.py", line 149, in None  *
        lambda images: model(images, training=False)
    File "/venv/lib/python3.11/site-packages/keras/src/utils/traceback_utils.py", line 122, in error_handler  **
        raise e.with_traceback(filtered_tb) from None
    File "/venv/lib/python3.11/site-packages/jax/_src/numpy/array_constructors.py", line 314, in array
        out = np.asarray(object, dtype=dtype)

    NotImplementedError: Exception encountered when calling Functional.call().

    \x1b[1mCannot convert a symbolic tf.Tensor (images:0) to a numpy array. This error may indicate that you're \
trying to pass a Tensor to a NumPy call, which is not supported.\x1b[0m

    Arguments received by Functional.call():
      • inputs=<tf.Tensor 'images:0' shape=(None, 12, 12, 3) dtype=float32>
      • training=False
"""


def test_a_tensorflow_in_user_code_error_keeps_its_messages_and_drops_its_frames() -> None:
    line = headline(IN_USER_CODE)
    assert "\n" not in line and "\x1b" not in line and 'File "' not in line and "lambda images" not in line
    assert line.startswith(
        "in user code: | NotImplementedError: Exception encountered when calling Functional.call(). | "
        "Cannot convert a symbolic tf.Tensor (images:0) to a numpy array."
    )
    assert len(line) == HEADLINE and line.endswith("...")


def test_a_frame_quoted_without_its_source_line_keeps_the_line_after_it() -> None:
    text = 'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\nValueError: bad'
    assert headline(text) == "Traceback (most recent call last): | ValueError: bad"


def test_one_line_is_itself() -> None:
    said = "RuntimeError: Unable to initialize backend 'cuda'"
    assert headline(f"  {said}  ") == said


def test_plain_drops_only_the_escape_sequences() -> None:
    assert plain("\x1b[1mbold\x1b[0m and\ttabs\nkept") == "bold and\ttabs\nkept"


def test_an_experiment_that_raised_errors_with_one_summary_line_the_full_text_and_a_fix_for_a_raise() -> None:
    try:
        experiment_raised("TensorFlow (determinism.savedmodel_round_trip)", "NotImplementedError", IN_USER_CODE)
    except CouldNotCheck as exc:
        finding = exc.finding
    assert finding.summary.startswith(
        "could not check TensorFlow (determinism.savedmodel_round_trip): the experiment raised NotImplementedError: "
        "in user code: | NotImplementedError: Exception encountered"
    )
    assert "\n" not in finding.summary
    assert "Cannot convert a symbolic tf.Tensor (images:0)" in finding.found and "\x1b" not in finding.found
    assert "--host-probe-timeout" not in finding.fix
    assert finding.fix.startswith("the framework raised this under this host's environment and settings")
