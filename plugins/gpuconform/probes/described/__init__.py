"""A compact host description (TOML) that expands to a whole Facts tree.

Writing a Facts file by hand takes hundreds of lines; a real bug report says a dozen things:
the GPU, the driver, which libraries are where in which versions, which TensorFlow, what
TensorFlow printed. This is that dozen, and `expand` fills in the rest the way the probes
would have recorded it (PCI ids and compute capability from gpus.toml, the CUDA a driver
reports from the branch table, the sonames TensorFlow asks for from sonames.toml), so that the
suite judges a described host exactly as a probed one. `gpuconform facts from-spec host.toml`
writes the Facts; the corpus of real broken hosts (tests/corpus) is written in this form.

A version the source does not give is written ``"not stated"`` (driver.version, driver.cuda,
library.version), never replaced by a stand-in: it expands to Facts that record it as not stated
(a ProbeError of kind "not_stated" where the probe would have recorded a failure to read it, the
value itself null), and each check that needs it is not applicable and says which fact the
replayed facts do not state. A driver whose version is not stated is loaded, and the CUDA it
reports is not stated either unless driver.cuda gives it; a library whose version is not stated
loads, and needs its soname unless it is libcuda. Omitting driver.version still means no driver.

Every key, with its default::

    [host]
    name = "described-host"      # the hostname in the reports
    system = "Linux"             # platform.system(): "Linux", "Windows", "Darwin"
    distro = "Ubuntu 22.04"      # PRETTY_NAME
    kernel = "unknown"           # uname -r
    machine = "x86_64"
    python = "3.11.7"
    libc = "2.35"                # glibc version; "" for none (musl, Windows)
    container = ""               # docker, podman, kubernetes, lxc, apptainer, enroot; "" for none
    container_runtime_error = "" # what nvidia-container-cli said when it refused the GPUs
    wsl = false
    wsl_version = 0              # 1 or 2 where known (WSL 1 has no GPU); 0: not recorded
    environment = { LD_LIBRARY_PATH = "/usr/local/cuda/lib64" }
    cpu_model = ""               # /proc/cpuinfo "model name"
    cpu_flags = ["avx", "avx2"]  # the instruction-set flags present (avx, avx2, avx512f, fma, sse4_1, sse4_2);
                                 # absent: not recorded

    [[gpu]]                      # zero or more
    model = "rtx3090"            # a key of matrices/gpus.toml (name, PCI id, CC, memory come from it)
    count = 1
    name = ""                    # the NVML name, when the model's is not the one to use
    compute_capability = ""      # "8.6", when there is no model
    memory_mib = 0
    pci_device_id = 0
    bound_driver = "nvidia"      # "nouveau", "vfio-pci", "" (unbound)
    in_nvml = true               # false: on the bus, but NVML does not list it

    [driver]
    version = "460.32.03"        # the kernel module's; "" for none installed; "not stated" (see above)
    loaded = true                # false: no nvidia module, no /proc/driver/nvidia/version
    user_space_version = ""      # libnvidia-ml's, when an upgrade left it apart from the module
    nouveau = false              # nouveau in /proc/modules
    nvml_error = ""              # an NVML return code of nvmlInit ("DRIVER_NOT_LOADED")
    cuda = ""                    # the CUDA the driver reports ("12.4"); default: the branch's; "not stated"
    device_nodes = [...]         # names under /dev; default: nvidiactl, nvidia-uvm, nvidia0.. when loaded
    device_nodes_denied = []     # of those, the ones that exist but cannot be opened (the device cgroup)
    kernel_log = ["NVRM: Xid (PCI:0000:01:00): 79, pid=1, GPU has fallen off the bus."]
                                 # absent: not recorded; [] : read, and nothing about the driver in it
    kernel_log_readable = true   # false: the log could not be read (recorded as such)
    secure_boot = true           # UEFI Secure Boot on / off; absent: not recorded
    modprobe_error = ""          # what loading the module said ("modprobe: ERROR: ... Key was rejected ...")

    [tensorflow]                 # absent: no TensorFlow installed
    distribution = "tensorflow"  # tensorflow, tensorflow-gpu, tensorflow-cpu, tf-nightly, ...
    version = "2.3.0"
    others = ["tensorflow-gpu 2.3.0"]   # other TF distributions installed beside it
    keras = ""                   # the keras distribution's version, if installed
    cuda_build = true            # what the package's own build info says (is_built_with_cuda()); absent:
                                 # what the distribution's name and era say (tf_platforms.toml)
    cuda = ""                    # the CUDA its own build files name (cuda_config.h), where another than the
                                 # release's PyPI wheel's ("9.2" for a conda 1.11); "": the matrix row's
    installed_by = ""            # the date it was installed by ("2022-03-14": the report's date), where the
                                 # version leaves its release open (nvidia-tensorflow "1.15.5"); "": not known

    [tensorflow.observed]        # what TensorFlow itself said; absent: not recorded
    gpus = 0                     # how many GPUs list_physical_devices('GPU') returned
    log = ["Could not load dynamic library 'libcudnn.so.8'; dlerror: ..."]
    import_error = ""            # "ImportError: libcudart.so.10.1: cannot open shared object file"
    cuda = ""                    # get_build_info()'s cuda_version
    cudnn = ""                   # get_build_info()'s cudnn_version
    compute_capabilities = []    # get_build_info()'s, "sm_35", "compute_80"

    [[library]]                  # zero or more: one file a search would reach
    name = "cudnn"               # cudart, cublas, cublasLt, cufft, curand, cusolver, cusparse, cudnn, nccl, cuda;
                                 # TensorRT's nvinfer, nvinfer_plugin, or tensorrt for both (libnvinfer.so.<major>)
    version = "8.0.5"            # what the library reports ("10.1", "8.0.5"; libcuda: its CUDA, "12.4"; TensorRT:
                                 # its own version, "8.4.3"); "not stated"
    origin = "cuda_home"         # pip, LD_LIBRARY_PATH, conda, ldcache, system, cuda_home, compat, wsl, windows_path
    path = ""                    # default: a typical path for the origin and soname
    soname = ""                  # default: from the name and version (libcudnn.so.8; cudnn64_8.dll on Windows)
    loads = true                 # false: dlopen fails (load_error says why)
    load_error = ""
    cuda = ""                    # the CUDA a cuDNN was built for ("11.0")
    driver_build = ""            # libcuda: the driver release of this copy ("470.57.02")
                                 # A copy is also reached every other way the probe would record: its directory
                                 # on host.environment's LD_LIBRARY_PATH, CONDA_PREFIX/lib, /usr/local/cuda/lib64;
                                 # a cuda-compat or /usr/lib/wsl directory is marked compat / wsl. On native
                                 # Windows (host.system) names are the DLLs TF loads, and a loaded driver brings
                                 # C:/Windows/System32/nvcuda.dll unless a [[library]] cuda is given.

    [[toolkit]]                  # zero or more: a whole CUDA toolkit's libraries in one directory
    version = "10.1"             # the CUDA version; each library gets the soname TF asks for of it
    origin = "cuda_home"         # as for [[library]]
    directory = ""               # default: the origin's typical directory

    [toolchain]                  # absent: not recorded; each key likewise
    ptxas = "11.0.194"           # "" for none found
    nvcc = ""
    libdevice = ""               # the libdevice.10.bc XLA would find; "" for none

    [[engine]]                   # a container engine's config on the machine (a Kubernetes node); absent: not
                                 # recorded; engine = []: none found
    name = "docker"              # docker (/etc/docker/daemon.json) or containerd (/etc/containerd/config.toml)
    default_runtime = ""         # docker's "default-runtime", containerd's default_runtime_name; "": not set (runc)
    runtimes = ["nvidia"]        # the runtimes the config registers
    readable = true              # false: the file is there but cannot be read

    [install]                    # an install of TensorFlow that did not complete; absent: none known
    requested = "tensorflow[and-cuda]==2.14.0"   # what was asked for
    installer = "pip"            # pip, conda, poetry, uv, ...
    log = ["ERROR: No matching distribution found for tensorrt==8.5.3.1"]   # what the installer said
"""

from __future__ import annotations

from gpuconform.probes.described.expand import expand
from gpuconform.probes.described.spec import FRAMEWORK_ENV
from gpuconform.probes.described.spec import HostDescription
from gpuconform.probes.described.spec import description_keys
from gpuconform.probes.described.spec import load_description

__all__ = ["FRAMEWORK_ENV", "HostDescription", "description_keys", "expand", "load_description"]
