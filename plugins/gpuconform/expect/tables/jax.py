"""matrices/jax.toml: JAX releases, the jaxlib each accepts, and the CUDA plugins with what they need.

`[[jax]]` rows are what a jax wheel's METADATA requires of jaxlib and of the CUDA plugin its
`cuda12` / `cuda13` extras install; `[[plugin]]` rows are what a jax-cuda12-plugin or
jax-cuda13-plugin wheel requires: the jax-cudaNN-pjrt of its own version, and through its
`with-cuda` extra the CUDA runtime and cuDNN wheels (their floors are the minimum CUDA and
cuDNN). jaxlib, the plugin and the PJRT wheel must be the same version (MUST_MATCH). The
minimum driver is the CUDA -> driver table's (cuda_drivers.toml) for the plugin's minimum CUDA.
`[[deterministic_ops]]` rows name, for a range of jax releases, the XLA_FLAGS that make XLA's GPU
kernels deterministic (the flag's name changed across XLA releases; jax has no option of its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import Schema
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.reader import row_notes

PLUGINS = {"jax-cuda12-plugin": 12, "jax-cuda13-plugin": 13}
#: The distributions whose versions must all be equal where they are installed (jaxlib first).
MUST_MATCH = ("jaxlib", "jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin", "jax-cuda13-pjrt")


@dataclass(frozen=True)
class JaxRelease:
    """What one jax release requires (its METADATA)."""

    version: Version
    jaxlib: SpecifierSet  # ">=0.7.2,<=0.7.2"
    cuda12_plugin: SpecifierSet | None  # what the cuda12 extra installs, None without the extra
    cuda13_plugin: SpecifierSet | None
    source: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class JaxPlugin:
    """One jax-cudaNN-plugin release and what it requires (its METADATA)."""

    package: str  # "jax-cuda12-plugin"
    version: Version
    pjrt: SpecifierSet  # "==0.7.2": the jax-cudaNN-pjrt it needs
    cuda_runtime: SpecifierSet  # the with-cuda extra's nvidia-cuda-runtime requirement: ">=12.1.105"
    cudnn: SpecifierSet  # the with-cuda extra's nvidia-cudnn-cuNN requirement: ">=9.8,<10.0"
    source: str
    notes: tuple[str, ...] = ()

    @property
    def cuda_major(self) -> int:
        return PLUGINS[self.package]

    @property
    def cuda(self) -> Version:
        """The minimum CUDA, X.Y of the runtime wheel's floor (its major.minor is the toolkit's)."""
        return Version(".".join(str(p) for p in _floor(self.cuda_runtime).release[:2]))

    @property
    def cudnn_min(self) -> Version:
        return _floor(self.cudnn)


@dataclass(frozen=True)
class JaxDeterminism:
    """The XLA flags that turn on deterministic GPU ops for a range of jax releases (their jaxlib's XLA)."""

    jax: SpecifierSet  # ">=0.5.0,<=0.12.0.1"
    xla_flags: str  # "--xla_gpu_deterministic_ops=true"
    source: str
    notes: tuple[str, ...] = ()


def _floor(spec: SpecifierSet) -> Version:
    return next(Version(s.version) for s in spec if s.operator in (">=", "=="))


@dataclass(frozen=True)
class JaxTable:
    meta: TableMeta
    releases: tuple[JaxRelease, ...]  # in file order
    plugins: tuple[JaxPlugin, ...]  # in file order
    runtime: JaxRuntime | None = None
    deterministic_ops: tuple[JaxDeterminism, ...] = ()  # in file order

    def release(self, version: str | Version) -> JaxRelease | None:
        v = Version(str(version))
        return next((r for r in self.releases if r.version == v), None)

    def plugin(self, package: str, version: str | Version) -> JaxPlugin | None:
        v = Version(str(version))
        return next((p for p in self.plugins if p.package == package and p.version == v), None)

    def determinism(self, jax: str | Version) -> JaxDeterminism | None:
        """The deterministic-ops row whose range holds this jax release, or None."""
        v = Version(str(jax))
        return next((d for d in self.deterministic_ops if d.jax.contains(v, prereleases=True)), None)

    def mismatches(self, installed: Mapping[str, str]) -> tuple[str, ...]:
        """What breaks the exact-match rule among installed distributions (name -> version):
        each of MUST_MATCH that is installed at another version than jaxlib, or than the first found."""
        present = [(name, Version(installed[name])) for name in MUST_MATCH if name in installed]
        if not present:
            return ()
        first, version = present[0]
        return tuple(f"{name} {v} is not {first} {version}" for name, v in present[1:] if v != version)

    def jaxlib_problem(self, jax: str | Version, jaxlib: str | Version) -> str | None:
        """Why this jaxlib does not go with this jax (from the jax row), or None; None for an unknown jax."""
        row = self.release(jax)
        if row is None or row.jaxlib.contains(Version(str(jaxlib)), prereleases=True):
            return None
        return f"jax {row.version} requires jaxlib{row.jaxlib}, not {jaxlib}"


_FILE: Schema = {
    "meta": "table",
    "runtime?": "table",
    "jax": "tables",
    "plugin": "tables",
    "deterministic_ops?": "tables",
}
_DETERMINISM_ROW: Schema = {"jax": "string", "xla_flags": "string", "source": "string", "notes?": "strings"}
_JAX_ROW: Schema = {
    "version": "string",
    "jaxlib": "string",
    "cuda12_plugin?": "string",
    "cuda13_plugin?": "string",
    "source": "string",
    "notes?": "strings",
}
_PLUGIN_ROW: Schema = {
    "package": "string",
    "version": "string",
    "pjrt": "string",
    "cuda_runtime": "string",
    "cudnn": "string",
    "source": "string",
    "notes?": "strings",
}


def load_jax(path: Path) -> JaxTable:
    """Read jax.toml; every problem is a DataError naming the file and key."""
    r = Reader(path)
    meta = r.meta("jax", _FILE)
    releases = []
    for key, row in r.rows("jax", _JAX_ROW):
        version = r.version(row["version"], f"{key}.version", "0.7.2")
        jaxlib = r.specifier(row["jaxlib"], f"{key}.jaxlib")
        names = ("cuda12_plugin", "cuda13_plugin")
        extras = {n: r.specifier(row[n], f"{key}.{n}") if n in row else None for n in names}
        for name, spec in (("jaxlib", jaxlib), *extras.items()):
            # jax accepts no jaxlib or plugin newer than itself.
            if spec is not None and any(Version(s.version) > version for s in spec if s.operator in ("<=", "==")):
                problem = f"{spec} admits a version newer than jax {version}"
                raise r.fail(f"{key}.{name}", problem, f"an upper bound <={version}")
        cuda12, cuda13 = extras["cuda12_plugin"], extras["cuda13_plugin"]
        releases.append(JaxRelease(version, jaxlib, cuda12, cuda13, row["source"], row_notes(row)))
    plugins = []
    for key, row in r.rows("plugin", _PLUGIN_ROW):
        package = r.choice(row["package"], f"{key}.package", PLUGINS)
        version = r.version(row["version"], f"{key}.version", "0.7.2")
        pjrt = r.specifier(row["pjrt"], f"{key}.pjrt")
        if str(pjrt) != f"=={version}":
            raise r.fail(f"{key}.pjrt", f"{str(pjrt)!r} is not the plugin's own version", f"'=={version}'")
        plugin = JaxPlugin(
            package,
            version,
            pjrt,
            r.specifier(row["cuda_runtime"], f"{key}.cuda_runtime"),
            r.specifier(row["cudnn"], f"{key}.cudnn"),
            row["source"],
            row_notes(row),
        )
        for name, spec in (("cuda_runtime", plugin.cuda_runtime), ("cudnn", plugin.cudnn)):
            if not any(s.operator in (">=", "==") for s in spec):
                raise r.fail(f"{key}.{name}", f"{spec} has no lower bound", "a floor such as '>=12.1.105'")
        if plugin.cuda.major != plugin.cuda_major:
            problem = f"{plugin.cuda_runtime} is not CUDA {plugin.cuda_major}"
            raise r.fail(f"{key}.cuda_runtime", problem, f">={plugin.cuda_major}.x")
        plugins.append(plugin)
    determinism = []
    for key, row in r.rows("deterministic_ops", _DETERMINISM_ROW) if "deterministic_ops" in r.data else ():
        flags = row["xla_flags"].split()
        if not flags or not all(f.startswith("--xla_") for f in flags):
            raise r.fail(f"{key}.xla_flags", f"{row['xla_flags']!r} is not a list of XLA flags", "'--xla_gpu_...=true'")
        spec = r.specifier(row["jax"], f"{key}.jax")
        determinism.append(JaxDeterminism(spec, row["xla_flags"], row["source"], row_notes(row)))
    r.nonempty(releases, "jax", "one [[jax]] per jax release")
    r.unique(((f"jax[{i}].version", j.version) for i, j in enumerate(releases)), "version")
    r.unique(((f"plugin[{i}].version", (p.package, str(p.version))) for i, p in enumerate(plugins)), "plugin release")
    return JaxTable(meta, tuple(releases), tuple(plugins), load_jax_runtime(r), tuple(determinism))


@dataclass(frozen=True)
class JaxRuntime:
    """jax.toml's [runtime]: what a fresh JAX process does with GPU memory and float32 matmuls."""

    jax: SpecifierSet  # the releases it is documented for
    preallocate: bool
    mem_fraction: float  # the share of the GPU's total memory preallocated by default
    mem_fraction_variables: tuple[str, ...]  # the current name first
    allocators: tuple[str, ...]  # what XLA_PYTHON_CLIENT_ALLOCATOR accepts
    full_float32_precisions: tuple[str, ...]
    sources: tuple[str, ...]


_RUNTIME: Schema = {
    "jax": "string",
    "preallocate": "boolean",
    "mem_fraction": "number",
    "mem_fraction_variables": "strings",
    "allocators": "strings",
    "full_float32_precisions": "strings",
    "sources": "strings",
    "notes?": "strings",
}


def load_jax_runtime(r: Reader) -> JaxRuntime | None:
    """The [runtime] table of a jax.toml already checked by `load_jax` (None where the file has none)."""
    if "runtime" not in r.data:
        return None
    row = r.table(r.data["runtime"], "runtime", _RUNTIME)
    if not 0 < row["mem_fraction"] <= 1:
        raise r.fail("runtime.mem_fraction", f"{row['mem_fraction']} is not a share of the memory", "0 < x <= 1")
    for name in ("mem_fraction_variables", "allocators", "sources"):
        r.nonempty(row[name], f"runtime.{name}", "at least one")
    return JaxRuntime(
        r.specifier(row["jax"], "runtime.jax"),
        row["preallocate"],
        float(row["mem_fraction"]),
        tuple(row["mem_fraction_variables"]),
        tuple(row["allocators"]),
        tuple(row["full_float32_precisions"]),
        tuple(row["sources"]),
    )
