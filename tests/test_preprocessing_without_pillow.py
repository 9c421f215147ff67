"""Without Pillow, Keras cannot load images: the preprocessing layer says so instead of erroring."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from gpuconform.plugin.keys import suites_dir

SEAM = Path(__file__).parent / "faultseams" / "nopillow"
UPLOADS = (
    '[profile]\nname = "uploads"\ndescription = "d"\n'
    "[tensorflow]\nrequired = false\n[application]\nfile_like_uploads = true\n"
)


#: Which backend Keras 3 imports on loads no image: these checks run without Pillow.
NO_IMAGES = ("preprocessing::keras_runs_on_the_requested_backend", "preprocessing::keras_imports_with_this_hosts")


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, profile: str) -> dict[str, dict[str, str]]:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(SEAM), os.environ.get("PYTHONPATH")])))
    pytester.runpytest_subprocess(str(suites_dir()), "-m", "preprocessing", "--host-profile", profile, timeout=300)
    result = json.loads((pytester.path / "reports/result.json").read_text())
    return {c["id"]: c for c in result["checks"] if not c["id"].startswith(NO_IMAGES)}


def test_without_pillow_the_layer_is_not_applicable(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = _run(pytester, monkeypatch, "cpu")
    assert checks and all(c["outcome"] == "not-applicable" for c in checks.values()), checks
    assert "Pillow is not installed" in next(iter(checks.values()))["reason"]


def test_without_pillow_an_application_that_loads_images_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pytester.path / "uploads.toml").write_text(UPLOADS)
    checks = _run(pytester, monkeypatch, "uploads.toml")
    root = checks["preprocessing::pillow_is_installed_for_image_loading"]
    assert root["outcome"] == "failed"
    assert root["reason"] == "Pillow is not installed, but the application loads images with Keras"
    assert root["remediation"] == "pip install pillow"
    # Keras's checks under a backend this environment lacks do not apply, whatever Pillow does (CI's first pass
    # has neither PyTorch nor JAX); every other check is blocked by the missing Pillow.
    absent = [c for c in checks.values() if c["outcome"] == "not-applicable" and _backend_absent(c["reason"])]
    others = [c for c in checks.values() if c is not root and c not in absent]
    assert others and all(c["outcome"] == "blocked" for c in others), others
    assert all(c["blocked_by"] == root["id"] for c in others)
    assert all(re.search(r"\[(torch|jax)[]-]", c["id"]) for c in absent), absent


def _backend_absent(reason: str) -> bool:
    return reason.startswith(("not applicable: PyTorch is not installed", "not applicable: JAX is not installed"))
