"""Why a layer is broken and the exact fix: the rules that read the facts against the sourced tables.

One module per question a failing check asks: why the driver or its kernel module is wrong
(`driver`), whether a container hands over the GPUs (`containers`), whether the libcuda the
loader takes belongs to the kernel module (`libcuda`), which copies of a CUDA library the
installed TensorFlow's loader reaches (`reach`), what an install asked for and pip refused
(`installs`) and the toolchain XLA compiles with (`toolchain`). Each returns findings with
their fix; the checks in suites/ decide the outcome.
"""
