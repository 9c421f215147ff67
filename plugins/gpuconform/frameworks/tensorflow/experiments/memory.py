"""Memory experiments: device configuration before and after initialisation, and GPU footprints.

Which share a child, and why (device configuration is one-shot per process,
tf-behaviors §1.1-1.2):

- ``split_cpu`` then ``configure_after_init`` share one child: the first
  configures before initialisation (the CPU split into two logical devices, and
  memory growth on every GPU so the child stays small), the second needs a
  runtime that is already initialised and tries to change that configuration.
- ``mixed_growth`` runs alone: it must configure two GPUs differently before
  anything initialises the runtime.
- ``hold_default``, ``hold_growth`` and ``hold_limit`` run one child each (the
  parent adds ``TF_FORCE_GPU_ALLOW_GROWTH=true`` to ``hold_default`` for the
  environment-variable mode). Each allocates, prints its ``ready`` line and
  holds until the parent has measured it from outside with NVML (see
  `gpuconform.frameworks.hold`); the parent shows each child only the GPU it measures.
"""

from __future__ import annotations

import os
from typing import Any

from gpuconform.facts.serde import dump
from gpuconform.frameworks.child_main import emit
from gpuconform.frameworks.hold import READY
from gpuconform.frameworks.hold import hold_until_released
from gpuconform.frameworks.tensorflow.experiments.framework import enable_growth
from gpuconform.frameworks.tensorflow.observations import AfterInit
from gpuconform.frameworks.tensorflow.observations import HoldReport
from gpuconform.frameworks.tensorflow.observations import LogicalSplit
from gpuconform.frameworks.tensorflow.observations import Raised

LIMIT_ENV = "GPUCONFORM_MEMORY_LIMIT_MB"
#: How far above its memory_limit the limit child tries to allocate.
OVER_LIMIT_MB = 256


def _raised(call: str, fn: Any) -> Raised:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the exception is the observation
        return Raised(call, type(exc).__name__, str(exc)[:2000])
    return Raised(call)


def split_cpu(tf: Any) -> Any:
    """Split the CPU into two logical devices before initialisation and run an op on the second."""
    enable_growth(tf)
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    logical = tuple(d.name for d in tf.config.list_logical_devices("CPU"))
    with tf.device("/CPU:1"):
        result = tf.linalg.matmul(tf.ones((4, 4)), tf.ones((4, 4)))
    return dump(LogicalSplit(logical_cpus=logical, op_device=result.device))


def configure_after_init(tf: Any) -> Any:
    """After the first op: re-split the CPU, and flip memory growth on the first GPU."""
    tf.constant(1)  # initialises the runtime, if split_cpu has not already
    cpu = tf.config.list_physical_devices("CPU")[0]
    split = [tf.config.LogicalDeviceConfiguration()] * 3
    cpu_raised = _raised(
        "tf.config.set_logical_device_configuration(CPU, [LogicalDeviceConfiguration()] * 3)",
        lambda: tf.config.set_logical_device_configuration(cpu, split),
    )
    gpus = tf.config.list_physical_devices("GPU")
    gpu_raised = None
    if gpus:
        # Setting the value it already has is a silent no-op (§1.1): ask for the other one.
        wanted = not tf.config.experimental.get_memory_growth(gpus[0])
        gpu_raised = _raised(
            f"tf.config.experimental.set_memory_growth(GPU:0, {wanted})",
            lambda: tf.config.experimental.set_memory_growth(gpus[0], wanted),
        )
    return dump(AfterInit(cpu=cpu_raised, gpu=gpu_raised))


def mixed_growth(tf: Any) -> Any:
    """Memory growth on for the first GPU, off for the second, then initialise."""
    gpus = tf.config.list_physical_devices("GPU")
    tf.config.experimental.set_memory_growth(gpus[0], True)
    tf.config.experimental.set_memory_growth(gpus[1], False)
    return dump(_raised("tf.constant(1) with memory growth True on GPU:0 and False on GPU:1", lambda: tf.constant(1)))


def _small_model(tf: Any) -> None:
    """A few training steps of a small dense network and a conv on /GPU:0: megabytes, not gigabytes."""
    with tf.device("/GPU:0"):
        w1 = tf.Variable(tf.random.stateless_normal((256, 128), seed=(1, 1)) * 0.05)
        w2 = tf.Variable(tf.random.stateless_normal((128, 10), seed=(1, 2)) * 0.05)
        x = tf.random.stateless_normal((64, 256), seed=(1, 3))
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(tf.matmul(tf.nn.relu(tf.matmul(x, w1)), w2)))
            for var, grad in zip((w1, w2), tape.gradient(loss, [w1, w2])):
                var.assign_sub(0.01 * grad)
        image = tf.reshape(x[:, :64], (64, 8, 8, 1))
        tf.nn.conv2d(image, tf.ones((3, 3, 1, 8)), 1, "SAME").numpy()


def _hold(tf: Any, mode: str, limit_mb: int | None = None) -> Any:
    gpus = tuple(g.name for g in tf.config.list_physical_devices("GPU"))
    report: dict[str, Any] = {"pid": os.getpid(), "mode": mode, "gpus": gpus, "limit_mb": limit_mb}
    try:
        if not gpus:
            raise RuntimeError("TensorFlow lists no GPU (soft placement would run the model on the CPU)")
        _small_model(tf)
        if limit_mb is not None:
            report["over_limit"] = _over_limit(tf, limit_mb)
        info = tf.config.experimental.get_memory_info("GPU:0")
        report.update(current_bytes=int(info["current"]), peak_bytes=int(info["peak"]))
    except Exception as exc:  # noqa: BLE001 - reported, then held anyway: the parent still measures
        report["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    emit(READY, {"ok": True, "value": dump(HoldReport(**report))})
    return {"released": hold_until_released()}


def _over_limit(tf: Any, limit_mb: int) -> str:
    floats = (limit_mb + OVER_LIMIT_MB) * (1 << 20) // 4
    try:
        with tf.device("/GPU:0"):
            big = tf.zeros((floats,), tf.float32)  # eager: allocated (or refused) right here
        del big
    except Exception as exc:  # noqa: BLE001
        return f"refused: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    return "succeeded"


def hold_default(tf: Any) -> Any:
    """TF's default: no configuration (the parent may add TF_FORCE_GPU_ALLOW_GROWTH)."""
    return _hold(tf, "default")


def hold_growth(tf: Any) -> Any:
    """set_memory_growth(gpu, True) on every GPU before the first op."""
    enable_growth(tf)
    return _hold(tf, "growth")


def hold_limit(tf: Any) -> Any:
    """A logical device with memory_limit (MB) on the first GPU: the TF2 per_process_gpu_memory_fraction."""
    limit = int(os.environ[LIMIT_ENV])
    gpu = tf.config.list_physical_devices("GPU")[0]
    tf.config.set_logical_device_configuration(gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=limit)])
    return _hold(tf, "limit", limit)
