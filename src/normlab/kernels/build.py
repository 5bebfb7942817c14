"""Compile normlab's C kernels once per machine and load them with ctypes.

The source is compiled on first use with the system's C compiler (``$CC``, else ``cc``) for the
host CPU (``-march=native``) and cached under ``$XDG_CACHE_HOME/normlab/kernels`` (``~/.cache``
by default), keyed by the source, the compiler, its flags and the CPU, so a cache shared between
machines never hands one a library built for another. A build takes about a quarter of a second;
later processes only load the cached file.

Without a working compiler (or with ``NORMLAB_KERNELS=0``) :func:`load` returns None and the
callers use PyTorch's own operators: slower on the CPU, same results up to float rounding.
:func:`status` says which, and why.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Optional

from normlab.fileio import set_default_mode, user_cache_dir

__all__ = ["load", "status", "ENV_VAR"]

ENV_VAR = "NORMLAB_KERNELS"
_SOURCE = Path(__file__).with_name("conv5x5.c")
# No -ffast-math: it would let the compiler reorder sums, and results must not depend on it.
_FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-std=gnu11")
_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p
_SIGNATURES = {
    "normlab_conv5x5_c1_forward": [_PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _I64],
    "normlab_conv5x5_c1_backward_weight": [_PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _I64],
    "normlab_conv5x5_forward": [_PTR, _PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _I64, _I64],
    "normlab_conv5x5_backward_weight": [_PTR, _PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _I64, _I64],
    "normlab_conv5x5_backward_input": [_PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _I64, _I64],
}

_RETURNS_INT = {"normlab_conv5x5_backward_input"}

_lock = threading.Lock()
_state: dict = {}


def status() -> str:
    """One line: whether the C kernels are in use, and if not, why (loads them if needed)."""
    lib = load()
    if lib is not None:
        return f"C kernels loaded from {_state['path']}"
    return f"C kernels not used: {_state['reason']}"


def load() -> Optional[ctypes.CDLL]:
    """The compiled kernel library, or None where it cannot be built (then see :func:`status`).

    Builds it on the first call in a machine's life, then loads the cached build; the result is
    remembered for the life of the process (forked workers inherit it).
    """
    if "lib" in _state:
        return _state["lib"]
    warning = ""
    with _lock:
        if "lib" not in _state:
            try:
                lib, path, reason, warning = _build_and_load()
            except Exception as exc:  # noqa: BLE001 - an optimisation must never stop a run
                # An unwritable cache, no home directory, an unparsable $CC.
                lib, path, reason = None, None, f"{type(exc).__name__}: {exc}"
            _state.update(lib=lib, path=path, reason=reason)
    if warning:
        # After the state is stored: under `-W error` this raises once, and later calls fall back.
        warnings.warn(warning, RuntimeWarning, stacklevel=2)
    return _state["lib"]


def _build_and_load() -> tuple[Optional[ctypes.CDLL], Optional[Path], str, str]:
    """(library, its path, why there is none, a warning to give)."""
    if os.environ.get(ENV_VAR, "").strip().lower() in ("0", "false", "no", "off"):
        return None, None, f"disabled by {ENV_VAR}={os.environ[ENV_VAR]}", ""
    compiler = shlex.split(os.environ.get("CC", "").strip() or "cc")
    if not compiler or shutil.which(compiler[0]) is None:
        return None, None, f"no C compiler found ({' '.join(compiler) or '$CC is empty'}); set CC to one", ""
    source = _SOURCE.read_bytes()
    path = _cache_path(source, compiler)
    if not path.exists():
        error = _compile(compiler, path)
        if error:
            return None, None, f"build failed: {error}", (
                f"normlab: could not build its C kernels, using PyTorch's operators instead (slower on "
                f"the CPU): {error}")
    untrusted = _untrusted(path)
    if untrusted:
        return None, None, f"not loading {path}: {untrusted}", ""
    try:
        lib = ctypes.CDLL(str(path))
        for name, argtypes in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = ctypes.c_int if name in _RETURNS_INT else None
    except (OSError, AttributeError) as exc:
        # A cached file that does not load (deleted underneath us, or from an older layout):
        # drop it so that the next process rebuilds it.
        path.unlink(missing_ok=True)
        return None, None, f"could not load {path}: {exc}", ""
    return lib, path, "", ""


def _untrusted(path: Path) -> str:
    """Why a cached library should not be loaded (someone else could have written it), or ""."""
    if not hasattr(os, "getuid"):
        return ""
    st = path.stat()
    if st.st_uid != os.getuid():
        return "it belongs to another user"
    if st.st_mode & 0o022:
        return "others can write to it"
    return ""


def _cache_path(source: bytes, compiler: list[str]) -> Path:
    key = hashlib.sha256()
    for part in (source, " ".join(compiler).encode(), " ".join(_FLAGS).encode(), _compiler_version(compiler),
                 platform.machine().encode(), _cpu_fingerprint()):
        key.update(part)
        key.update(b"\0")
    return user_cache_dir("kernels") / f"conv5x5-{key.hexdigest()[:24]}{_suffix()}"


def _compile(compiler: list[str], path: Path) -> str:
    """Compile into ``path`` atomically; returns an error message, or "" on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        # An argument list, never a shell string: $CC and the paths are not interpreted.
        proc = subprocess.run([*compiler, *_FLAGS, "-o", tmp, str(_SOURCE)],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            return f"{' '.join(compiler)} exited with {proc.returncode}: {proc.stderr.strip()[-500:]}"
        set_default_mode(tmp, 0o777)  # mkstemp made it private; a library is read and mapped
        os.replace(tmp, path)  # concurrent builders each rename a complete file
        return ""
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{' '.join(compiler)}: {exc}"
    finally:
        Path(tmp).unlink(missing_ok=True)


def _compiler_version(compiler: list[str]) -> bytes:
    try:
        return subprocess.run([*compiler, "--version"], capture_output=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return b""


def _cpu_fingerprint() -> bytes:
    """What -march=native depends on: the CPU model and its instruction-set flags."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor().encode()
    keep = [line for line in text.splitlines() if line.split(":")[0].strip() in ("model name", "flags", "Features")]
    return "\n".join(sorted(set(keep))).encode()


def _suffix() -> str:
    return {"Darwin": ".dylib", "Windows": ".dll"}.get(platform.system(), ".so")
