"""Compile normlab's C kernels once per machine and load them with ctypes.

The source is compiled on first use with the system's C compiler (``$CC``, else ``cc``) for the
host CPU (``-march=native``) and cached under ``$XDG_CACHE_HOME/normlab/kernels`` (``~/.cache``
by default), keyed by the source, the compiler, its flags and the CPU, so a cache shared between
machines never hands one a library built for another; later processes only load the cached file.

Loading a library runs its code, so only a file that nobody else could have written is loaded:
the cache folder must be a real directory (not a symbolic link), ours, and writable by no one
else (normlab makes it with mode 0700); the library must be a regular file with the same
properties. Each is checked on an open descriptor, and the library is mapped through that same
descriptor (``/proc/self/fd/N``), so nothing can be swapped in between the check and the load.
A cache folder that fails these checks is left alone and the kernels are built in a fresh
private temporary directory instead; a platform without ``/proc/self/fd`` uses PyTorch.

Without a working compiler (or with ``NORMLAB_KERNELS=0``) :func:`load` returns None and the
callers use PyTorch's own operators: slower on the CPU, same results up to float rounding.
:func:`status` says which, and why.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import platform
import secrets
import shlex
import shutil
import stat
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Optional

from normlab.fileio import user_cache_dir

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
_FD_DIR = "/proc/self/fd"
# Zero where the platform lacks them (Windows): then _FD_DIR is missing too and nothing is opened.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
# Explicit, not "0777 less the umask": under umask 002 that gave group write, and then the
# ownership check refused normlab's own build in every later process.
_LIBRARY_MODE = 0o700

_lock = threading.Lock()
_state: dict = {}


def status() -> str:
    """One line: whether the C kernels are in use, from where, and if not, why (loads them if needed)."""
    lib = load()
    if lib is None:
        return f"C kernels not used: {_state['reason']}"
    if _state["path"] is None:
        return f"C kernels loaded: {_state['reason']}"
    return f"C kernels loaded from {_state['path']}"


def load() -> Optional[ctypes.CDLL]:
    """The compiled kernel library, or None where it cannot be built (then see :func:`status`).

    Builds it on the first call in a machine's life, then loads the cached build; the result is
    remembered for the life of the process (forked workers inherit it). Never raises.
    """
    if "lib" in _state:
        return _state["lib"]
    warning = ""
    with _lock:
        if "lib" not in _state:
            try:
                lib, path, reason, warning = _build_and_load()
            except Exception as exc:  # noqa: BLE001 - an optimisation must never stop a run
                # No home directory, no usable temporary directory, an unparsable $CC.
                lib, path, reason = None, None, f"{type(exc).__name__}: {exc}"
            _state.update(lib=lib, path=path, reason=reason)
    if warning:
        # After the state is stored: under `-W error` this raises once, and later calls fall back.
        warnings.warn(warning, RuntimeWarning, stacklevel=2)
    return _state["lib"]


def _build_and_load() -> tuple[Optional[ctypes.CDLL], Optional[Path], str, str]:
    """(library, its cached path, why there is none or why it is not cached, a warning to give)."""
    if os.environ.get(ENV_VAR, "").strip().lower() in ("0", "false", "no", "off"):
        return None, None, f"disabled by {ENV_VAR}={os.environ[ENV_VAR]}", ""
    compiler = shlex.split(os.environ.get("CC", "").strip() or "cc")
    if not compiler or shutil.which(compiler[0]) is None:
        return None, None, f"no C compiler found ({' '.join(compiler) or '$CC is empty'}); set CC to one", ""
    if not (os.path.isdir(_FD_DIR) and _NOFOLLOW and hasattr(os, "geteuid")):
        # dlopen takes a path, and only a descriptor's path names the very file that was checked.
        return None, None, f"no {_FD_DIR} to load a checked library through; using PyTorch's convolution", ""
    name = _library_name(_SOURCE.read_bytes(), compiler)
    cache = user_cache_dir("kernels")
    try:
        dir_fd, problem = _open_private_dir(cache)
    except OSError as exc:
        problem = f"cannot be used ({type(exc).__name__}: {exc})"
    else:
        if dir_fd is not None:
            return _load_or_build(compiler, dir_fd, cache / name)
        # Safer than a chmod: a library in a folder others could write to may have been altered.
        problem += " (remove it to have normlab make a private one)"
    scratch = Path(tempfile.mkdtemp(prefix="normlab-kernels-"))  # a fresh name, mode 0700
    try:
        dir_fd, scratch_problem = _open_private_dir(scratch)
        if dir_fd is None:
            return None, None, f"cache directory {cache} {problem}, and {scratch} {scratch_problem}", ""
        lib, _, reason, warning = _load_or_build(compiler, dir_fd, scratch / name)
        if reason:
            where = f"building in a private temporary directory: cache directory {cache} {problem}"
            return None, None, f"{reason} ({where})", warning
        return lib, None, f"cache directory {cache} {problem}; kernels built in a private temporary directory", ""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # a mapped library outlives its file


def _open_private_dir(path: Path) -> tuple[Optional[int], str]:
    """An open descriptor for the directory ``path`` (made with mode 0700 if missing), or None and why not.

    Refused unless it is a directory, not a symbolic link, ours and writable by no one else;
    OSError where it cannot be made or opened. Its parents are not checked: every later access
    goes through the returned descriptor, so renaming a parent can no longer redirect it, and
    whatever stood at ``path`` when it was opened is what the checks saw. A parent that others
    can write to (~/.cache/normlab linked into a shared folder) thus only lets them make normlab
    build in a temporary directory.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    parent = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            os.mkdir(path.name, 0o700, dir_fd=parent)
        except FileExistsError:
            pass
        fd = os.open(path.name, _DIR_FLAGS, dir_fd=parent)
    except OSError:
        if os.path.islink(path):  # O_NOFOLLOW with O_DIRECTORY reports a link as "not a directory"
            return None, "is a symbolic link"
        raise
    finally:
        os.close(parent)
    problem = _not_private(os.fstat(fd))
    if problem:
        os.close(fd)
        return None, problem
    return fd, ""


def _not_private(st: os.stat_result) -> str:
    """Why a file with this status could have been written by someone else, or ""."""
    if st.st_uid != os.geteuid():
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return "is writable by group or others"
    return ""


def _load_or_build(compiler: list[str], dir_fd: int,
                   path: Path) -> tuple[Optional[ctypes.CDLL], Optional[Path], str, str]:
    """Load ``path`` through ``dir_fd``, its private directory, compiling it first if missing; closes ``dir_fd``."""
    try:
        try:
            os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            error = _compile(compiler, dir_fd, path.name)
            if error:
                return None, None, f"build failed: {error}", (
                    f"normlab: could not build its C kernels, using PyTorch's operators instead (slower on "
                    f"the CPU): {error}")
        try:
            fd = os.open(path.name, os.O_RDONLY | _NOFOLLOW, dir_fd=dir_fd)
        except OSError as exc:
            why = "is a symbolic link" if exc.errno == errno.ELOOP else f"cannot be opened ({exc})"
            return None, None, f"not loading {path}: it {why} (delete it to have it rebuilt)", ""
        try:
            st = os.fstat(fd)
            problem = _not_private(st) if stat.S_ISREG(st.st_mode) else "is not a regular file"
            if problem:
                return None, None, f"not loading {path}: it {problem} (delete it to have it rebuilt)", ""
            return _bind(ctypes.CDLL(f"{_FD_DIR}/{fd}")), path, "", ""
        except (OSError, AttributeError) as exc:
            # A cached file that does not load (from an older layout, or damaged): drop it so
            # that the next process rebuilds it.
            _unlink(path.name, dir_fd)
            return None, None, f"could not load {path}: {exc}", ""
        finally:
            os.close(fd)
    finally:
        os.close(dir_fd)


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    """``lib`` with each kernel's argument and return types set (AttributeError if one is missing)."""
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_int if name in _RETURNS_INT else None
    return lib


def _library_name(source: bytes, compiler: list[str]) -> str:
    key = hashlib.sha256()
    for part in (source, " ".join(compiler).encode(), " ".join(_FLAGS).encode(), _compiler_version(compiler),
                 platform.machine().encode(), _cpu_fingerprint()):
        key.update(part)
        key.update(b"\0")
    return f"conv5x5-{key.hexdigest()[:24]}{_suffix()}"


def _compile(compiler: list[str], dir_fd: int, name: str) -> str:
    """Compile into ``name`` in the private directory ``dir_fd``, atomically; an error message, or ""."""
    tmp = f".{name}.{secrets.token_hex(8)}.tmp"
    # The compiler is another process, so /proc/<our pid>, not /proc/self: its output lands in
    # the directory that was checked even if the directory's path now leads elsewhere.
    output = f"/proc/{os.getpid()}/fd/{dir_fd}/{tmp}"
    try:
        # An argument list, never a shell string: $CC and the paths are not interpreted.
        proc = subprocess.run([*compiler, *_FLAGS, "-o", output, str(_SOURCE)],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            stderr = proc.stderr.strip()[-500:]
            return f"{' '.join(compiler)} exited with {proc.returncode}" + (f": {stderr}" if stderr else "")
        os.chmod(tmp, _LIBRARY_MODE, dir_fd=dir_fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # concurrent builders each rename a whole file
        return ""
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{' '.join(compiler)}: {exc}"
    finally:
        _unlink(tmp, dir_fd)


def _unlink(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


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
