"""matrices/torch.toml and matrices/jax.toml: their loaders refuse malformed rows naming file and key,
their CUDA goes through the CUDA -> driver table, and the questions later checks ask of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpuconform.expect.framework_tables import load_framework_tables
from gpuconform.expect.loading import load_matrices
from gpuconform.facts.errors import DataError

REPO = Path(__file__).resolve().parents[1]
TABLES = load_framework_tables()
MATRICES = load_matrices()


def edited(tmp_path: Path, name: str, old: str, new: str) -> Path:
    target = tmp_path / "matrices"
    shutil.copytree(REPO / "matrices", target)
    text = (target / name).read_text()
    assert old in text, old
    (target / name).write_text(text.replace(old, new, 1))
    return target


def refused(directory: Path) -> DataError:
    with pytest.raises(DataError) as caught:
        load_framework_tables(directory)
    return caught.value


def _ga_driver(cuda: tuple[int, int]) -> str:
    return str(next(t.linux_min_driver for t in MATRICES.toolkits if t.series == cuda and t.release == "ga"))


# --- the shipped data -------------------------------------------------------------------------------


def test_the_shipped_tables_cover_torch_2_4_to_the_newest_read_and_every_jax_cuda_plugin() -> None:
    releases = {str(b.torch) for b in TABLES.torch.builds}
    assert {"2.4.0", "2.6.0", "2.9.0", "2.11.0"} <= releases
    assert all(b.arch_list and b.source for b in TABLES.torch.builds)
    assert {p.package for p in TABLES.jax.plugins} == {"jax-cuda12-plugin", "jax-cuda13-plugin"}


def test_every_build_and_plugin_gets_its_minimum_driver_from_the_cuda_driver_table() -> None:
    for build in TABLES.torch.builds:
        need = TABLES.torch_driver(build)
        assert str(need.full) == _ga_driver((build.cuda.major, build.cuda.minor)), build
        floor = next(c.linux_min_driver for c in MATRICES.minor_compat if c.major == build.cuda.major)
        assert need.minor_compat == floor
    for plugin in TABLES.jax.plugins:
        assert str(TABLES.jax_driver(plugin).full) == _ga_driver((plugin.cuda.major, plugin.cuda.minor)), plugin


def test_a_torch_variant_is_the_cuda_of_torch_version_cuda() -> None:
    for build in TABLES.torch.builds:
        assert build.variant == f"cu{build.cuda.major}{build.cuda.minor}"
        assert build.cudnn.major == 9  # every build from 2.4 on pins cuDNN 9


def test_an_installed_torch_finds_its_build_by_local_label_or_the_pypi_default() -> None:
    default = TABLES.torch.build("2.4.0")
    assert default is not None and default.pypi_default and str(default.cuda) == "12.1"
    assert TABLES.torch.build(f"2.4.0+{default.variant}") == default
    assert TABLES.torch.build("2.4.0+cu999") is None and TABLES.torch.build("1.13.0") is None
    assert (9, 0) in default.sass and default.ptx == ()


def test_jaxlib_and_the_plugins_must_be_the_same_version() -> None:
    assert TABLES.jax.mismatches({"jaxlib": "0.7.2", "jax-cuda12-plugin": "0.7.2", "jax-cuda12-pjrt": "0.7.2"}) == ()
    assert TABLES.jax.mismatches({"jaxlib": "0.7.2", "jax-cuda12-plugin": "0.7.1"}) == (
        "jax-cuda12-plugin 0.7.1 is not jaxlib 0.7.2",
    )
    assert TABLES.jax.jaxlib_problem("0.7.2", "0.7.2") is None
    assert TABLES.jax.jaxlib_problem("0.7.2", "0.7.1") == "jax 0.7.2 requires jaxlib<=0.7.2,>=0.7.2, not 0.7.1"
    for plugin in TABLES.jax.plugins:
        assert str(plugin.pjrt) == f"=={plugin.version}" and plugin.cuda.major == plugin.cuda_major


# --- malformed rows -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "old", "new", "key", "words"),
    [
        ("torch.toml", 'variant = "cu121"', 'variant = "cu124"', ".variant", ("not the variant of CUDA 12.1",)),
        ("torch.toml", 'variant = "cu121"', 'variant = "cuda121"', ".variant", ("is not a CUDA variant",)),
        ("torch.toml", '["sm_50", ', '["sm50", ', ".arch_list[0]", ("is not an architecture", "'compute_90'")),
        ("torch.toml", '["sm_50", ', '["sm_60", ', ".arch_list[1]", ("duplicate architecture",)),
        ("torch.toml", 'verified = "wheel"', 'verified = "blog"', ".verified", ("wheel, docs",)),
        ("torch.toml", 'cudnn = "9.1.0.70"', "cudnn = 9", ".cudnn", ("expected a string",)),
        ("torch.toml", 'torch = "2.4.0"', 'torch = "2.4.0rc1"', ".torch", ("not a final release",)),
        ("torch.toml", 'pypi_default = true', 'pypi_defualt = true', ".pypi_defualt", ("unknown key", "pypi_default")),
        ("torch.toml", 'cuda = "12.1"\n', 'cuda = "12.7"\n', ".variant", ("is not the variant of CUDA 12.7",)),
        ("jax.toml", 'package = "jax-cuda12-plugin"', 'package = "jax-cuda1-plugin"', ".package", ("jax-cuda13",)),
        ("jax.toml", 'pjrt = "==0.7.2"', 'pjrt = "==0.7.1"', ".pjrt", ("not the plugin's own version", "'==0.7.2'")),
        ("jax.toml", 'cudnn = "<10.0,>=9.8"', 'cudnn = "<10.0"', ".cudnn", ("has no lower bound",)),
        ("jax.toml", 'jaxlib = "<=0.7.2,>=0.7.2"', 'jaxlib = "<=0.7.3,>=0.7.2"', ".jaxlib", ("newer than jax 0.7.2",)),
        ("jax.toml", 'jaxlib = "<=0.7.2,>=0.7.2"', 'jaxlib = "0.7.2"', ".jaxlib", ("is not a version specifier",)),
        (
            "jax.toml",
            'xla_flags = "--xla_gpu_deterministic_ops=true"',
            'xla_flags = "xla_gpu_deterministic_ops=true"',
            "deterministic_ops[0].xla_flags",
            ("is not a list of XLA flags",),
        ),
        ("jax.toml", 'jax = ">=0.4.13,<=0.12.0.1"', 'jax = "0.4.13+"', "deterministic_ops[0].jax", ("not a version",)),
    ],
)
def test_a_malformed_row_is_a_data_error_naming_the_file_and_key(
    tmp_path: Path, name: str, old: str, new: str, key: str, words: tuple[str, ...]
) -> None:
    error = refused(edited(tmp_path, name, old, new))
    assert error.source.endswith(name) and key in error.key, str(error)
    assert all(w in str(error) for w in words), str(error)


@pytest.mark.parametrize(
    ("jax", "flags"),
    [
        ("0.4.13", "--xla_gpu_deterministic_ops=true"),
        ("0.12.0.1", "--xla_gpu_deterministic_ops=true"),
        ("0.4.12", None),
    ],
)
def test_the_deterministic_ops_flag_is_the_one_read_from_that_releases_jaxlib(jax: str, flags: str | None) -> None:
    row = TABLES.jax.determinism(jax)
    assert (row.xla_flags if row else None) == flags


def test_a_duplicate_build_or_a_second_pypi_default_is_refused(tmp_path: Path) -> None:
    text = (REPO / "matrices" / "torch.toml").read_text()
    first = text[text.index("[[build]]") :].split("\n\n")[0]
    directory = edited(tmp_path, "torch.toml", first, first + "\n\n" + first)
    assert "duplicate release and variant" in str(refused(directory))


def test_a_cuda_the_driver_table_does_not_list_is_refused_naming_the_row(tmp_path: Path) -> None:
    directory = edited(tmp_path, "torch.toml", 'variant = "cu121"\ncuda = "12.1"', 'variant = "cu127"\ncuda = "12.7"')
    error = refused(directory)
    assert error.source.endswith("torch.toml") and error.key.startswith("build[") and error.key.endswith("].cuda")
    assert "CUDA 12.7 has no row in cuda_drivers.toml" in str(error) and "12.8.0" in str(error)


@pytest.mark.parametrize(
    ("name", "old", "new", "key", "words"),
    [
        ("torch.toml", "matmul_allow_tf32 = false", 'matmul_allow_tf32 = "no"', ".matmul_allow_tf32", ("boolean",)),
        ("torch.toml", 'torch = ">=1.12"', 'torch = "1.12"', "runtime.torch", ("is not a version specifier",)),
        ("torch.toml", "cudnn_allow_tf32 = true\n", "cudnn_alow_tf32 = true\n", ".cudnn_alow_tf32", ("unknown key",)),
        ("jax.toml", "mem_fraction = 0.75", "mem_fraction = 75.0", "runtime.mem_fraction", ("not a share",)),
        ("jax.toml", "preallocate = true\n", "", "runtime.preallocate", ("required key is missing",)),
    ],
)
def test_a_malformed_runtime_table_is_a_data_error_naming_its_key(
    tmp_path: Path, name: str, old: str, new: str, key: str, words: tuple[str, ...]
) -> None:
    error = refused(edited(tmp_path, name, old, new))
    assert error.source.endswith(name) and key in error.key, str(error)
    assert all(w in str(error) for w in words), str(error)


def test_the_runtime_tables_hold_the_documented_defaults() -> None:
    torch, jax = TABLES.torch.runtime, TABLES.jax.runtime
    assert torch is not None and jax is not None
    assert (torch.matmul_allow_tf32, torch.cudnn_allow_tf32) == (False, True)
    assert torch.alloc_conf_variables == ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF")
    assert (jax.preallocate, jax.mem_fraction) == (True, 0.75)
    assert "platform" in jax.allocators
