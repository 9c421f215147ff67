"""Whether the frameworks on a host agree with each other on the reference model, and how far each is from the goldens.

Every framework runs the same neutral weights on the same batch on the CPU
(`gpuconform.frameworks.reference_arrays`); their softmax outputs are compared pairwise here,
with plain floats (the parent has no numpy). Two frameworks agree when every sample's predicted
class (argmax) is the same and no output differs by more than `AGREE`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from gpuconform.frameworks.reference import Tolerance
from gpuconform.frameworks.reference import max_abs_diff

Rows = Sequence[Sequence[float]]

#: The goldens (recorded with TensorFlow) reached by another framework on the CPU.
FRAMEWORK_CPU = Tolerance(
    1e-5,
    1e-6,
    "fp32 on the CPU in another framework: PyTorch (its own or oneDNN kernels) and XLA:CPU sum the 27-term "
    "convolutions and the 150-term products in other orders than TensorFlow's Eigen kernels, a few ulps apart; "
    "PyTorch 2.13 and JAX 0.10.2 came within 2e-7 of the goldens on x86-64",
)
#: Two frameworks' outputs on the CPU: at most this far apart, and the same class for every sample.
AGREE = 1e-5
AGREE_WHY = (
    "each framework is within rtol 1e-5, atol 1e-6 of the goldens on the CPU, so two of them differ by well under "
    f"{AGREE:g} on probabilities below 1; a layout mistake is far larger (the HWIO kernel read as OIHW without a "
    "transpose moves the outputs by 0.32 and changes the predicted class of 2 of the 8 samples)"
)


def argmax(row: Sequence[float]) -> int:
    return max(range(len(row)), key=lambda i: row[i] if not math.isnan(row[i]) else -math.inf)


@dataclass(frozen=True)
class Pair:
    """How two frameworks' outputs compare."""

    first: str
    second: str
    max_abs: float
    classes: tuple[int, ...]  # the samples whose predicted class differs

    @property
    def agree(self) -> bool:
        return not self.classes and self.max_abs <= AGREE

    def __str__(self) -> str:
        classes = f", predicted class differs for sample(s) {list(self.classes)}" if self.classes else ""
        return f"{self.first} vs {self.second}: max |diff| {self.max_abs:.3g}{classes}"


def compare(first: str, a: Rows, second: str, b: Rows) -> Pair:
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b)):
        return Pair(first, second, math.inf, tuple(range(max(len(a), len(b)))))
    classes = tuple(i for i, (x, y) in enumerate(zip(a, b)) if argmax(x) != argmax(y))
    return Pair(first, second, max_abs_diff(a, b), classes)


def pairs(outputs: Mapping[str, Rows]) -> list[Pair]:
    """Every pair of frameworks (in the order given), compared."""
    return [compare(x, outputs[x], y, outputs[y]) for x, y in combinations(outputs, 2)]


def outliers(found: Sequence[Pair], names: Sequence[str]) -> list[str]:
    """The frameworks that disagree with every other one (with three or more, the odd one out); else all of them."""
    disagreeing = [p for p in found if not p.agree]
    if len(names) < 3:
        return list(names) if disagreeing else []
    odd = [n for n in names if all(not p.agree for p in found if n in (p.first, p.second))]
    return odd or sorted({n for p in disagreeing for n in (p.first, p.second)}, key=list(names).index)
