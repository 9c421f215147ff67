"""Gather the Facts of this host (by probing, or by replaying a recorded file) and write them."""

from __future__ import annotations

import datetime
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import gpuconform
from gpuconform.facts import serde
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import FACTS_SCHEMA_VERSION
from gpuconform.facts.model import FACTS_SCHEMA_VERSIONS
from gpuconform.facts.model import Facts
from gpuconform.facts.model import HostIdentity
from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import PackagesFacts
from gpuconform.facts.text import clean
from gpuconform.facts.tomlio import read_json

if TYPE_CHECKING:
    from gpuconform.expect.matrix import Matrices


#: Names the host in the facts when the hostname does not (launchers/kubernetes sets it).
NODE_NAME_ENV = "GPUCONFORM_NODE_NAME"


def probe_host(
    matrices: Matrices,
    root: Path = Path("/"),
    timeout: float = 20.0,
    env: Mapping[str, str] | None = None,
) -> Facts:
    """Probe this host: platform, packages, driver and libraries (no TensorFlow import)."""
    from gpuconform.probes.driver import probe_driver
    from gpuconform.probes.platform import probe_packages
    from gpuconform.probes.platform import probe_platform
    from gpuconform.probes.toolchain import probe_toolchain

    env = dict(os.environ if env is None else env)
    packages = probe_packages()
    tf = packages.tensorflow
    facts = Facts(
        host=HostIdentity(
            # In a Kubernetes pod the hostname is the pod's: launchers pass the node's name instead.
            hostname=env.get(NODE_NAME_ENV) or socket.gethostname(),
            collected_at=_now(),
            host_root=None if root == Path("/") else str(root),
            gpuconform_version=gpuconform.__version__,
        ),
        platform=probe_platform(root, env),
        packages=packages,
        driver=probe_driver(root, timeout=timeout, env=env),
        libraries=_probe_libraries(packages, matrices, root, timeout, env),
        toolchain=probe_toolchain(env, tf.location if tf else None, tf.version if tf else None, root, timeout),
    )
    # Hostnames, variables, file names and library answers are text from outside: cleaned once
    # here (as replayed files are when read), so that every report written from them is valid.
    return serde.map_strings(facts, clean)


def _probe_libraries(
    packages: PackagesFacts, matrices: Matrices, root: Path, timeout: float, env: Mapping[str, str]
) -> LibrariesFacts:
    from gpuconform.probes.basis import library_basis
    from gpuconform.probes.libraries import probe_libraries

    tf = packages.tensorflow
    cuda = cudnn_major = None
    if tf is None:
        basis = "no TensorFlow installed: the sonames of the newest CUDA and cuDNN families"
    elif tf.name == "tensorflow-cpu":
        basis = f"{tf.name} {tf.version} loads no CUDA libraries: the sonames of the newest families"
    else:
        cuda, cudnn_major, basis = library_basis(tf.name, tf.version, packages.tensorflow_cuda_version, matrices)
    tensorrt = matrices.rules.tensorrt.wanted(tf.version if tf is not None and tf.name != "tensorflow-cpu" else None)
    return probe_libraries(cuda, cudnn_major, basis, root=root, timeout=timeout, env=env, tensorrt=tensorrt)


def replay_facts(path: Path) -> Facts:
    """Load a recorded Facts file, validating every key; problems raise DataError."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(str(path), "", "expected a JSON object at the top level")
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FACTS_SCHEMA_VERSION:
        raise DataError(
            str(path),
            "schema_version",
            f"{version} is newer than this gpuconform understands",
            f"up to {FACTS_SCHEMA_VERSION}; upgrade gpuconform",
        )
    if isinstance(version, int) and not isinstance(version, bool) and version not in FACTS_SCHEMA_VERSIONS:
        raise DataError(str(path), "schema_version", f"{version} is not a facts schema version", "1 or 2")
    facts = serde.load(Facts, data, str(path))
    # A hand-edited or old file's environment goes through the allowlist and the one redaction too.
    from gpuconform.probes.platform import reported_environment

    platform = replace(facts.platform, environment=reported_environment(dict(facts.platform.environment)))
    # A version-1 file is a version-2 tree with nothing recorded where version 2 grew.
    return replace(
        facts,
        host=replace(facts.host, source=f"replay:{path}"),
        platform=platform,
        schema_version=FACTS_SCHEMA_VERSION,
    )


def facts_json(facts: Facts) -> str:
    """The JSON text of a Facts tree, stable key order, ready to replay."""
    return json.dumps(serde.dump(facts), indent=2, sort_keys=False) + "\n"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
