"""What a framework offers the suites, as the seam sees it: an id, its distributions, its experiments.

A framework is one folder beside its siblings (`gpuconform.frameworks.tensorflow`): its
child-side experiments, the types its children answer with, and how its log and build are
read. The machinery here and in `gpuconform.frameworks` runs any framework's experiments in a
child with a timeout (`children`), records and replays what they said (`replay`), pins and locks
GPUs (`devices`, `live`), and holds a child while NVML measures it from outside (`hold`).
Experiment modules are named relative to the framework's experiments package ("framework",
"memory"), so recorded facts do not depend on where the code lives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: The experiments of PyTorch's and JAX's framework child ("framework" module), in the order it runs
#: them: one child answers the framework layer's checks and the libraries layer's maps check.
OTHER_FRAMEWORK_EXPERIMENTS = ("identity", "build_info", "devices", "maps")


@dataclass(frozen=True)
class Framework:
    """One framework the suites check."""

    id: str  # "tensorflow": what profiles, check ids and recorded facts call it
    name: str  # "TensorFlow", for messages
    distributions: tuple[str, ...]  # the distributions that install it, the usual first
    experiments: str  # the package of its child-side experiments
    landmark: Callable[[str], bool]  # whether its checks read a line of its log (kept when a log is capped)
    #: Whether an environment variable is read only once a device initialises, not while the framework
    #: imports: a child forked after the import may still set it (`gpuconform.frameworks.zygote`).
    after_import: Callable[[str], bool] = lambda name: False
    #: Variables read while the framework imports whose effect a zygote reports once it has imported
    #: (TensorFlow's oneDNN switch): a batch asking for the value already in effect there is forked
    #: from that zygote instead of paying for an import of its own.
    reported_at_import: frozenset[str] = frozenset()
    #: What a line of its log says a running child is busy with for a long while (None: nothing of the
    #: kind), for the terminal to say while it lasts (`gpuconform.plugin.progress`).
    busy: Callable[[str], str | None] = lambda line: None
    #: Frameworks whose import imports this one (TensorFlow's imports Keras 3): where one is installed,
    #: this one's children are forked from its plain zygote as guests (`gpuconform.frameworks.zygote`).
    hosts: tuple[str, ...] = ()

    @property
    def child_module(self) -> str:
        """The module a child runs (`python -m`) to answer experiments."""
        return f"{self.experiments}.child"

    def describe(self, module: str) -> str:
        """An experiments module as messages name it: its full dotted path."""
        return f"{self.experiments}.{module}"

    def child_argv(self, module: str, *names: str) -> list[str]:
        """The arguments of `python` for a child that runs experiments `names` of `module`."""
        return ["-m", self.child_module, module, *names]
