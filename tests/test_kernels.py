"""normlab's C convolution kernels: results against PyTorch's, fallbacks, and the build cache."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from unittest import mock

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import normlab.fast.kernels as kernels
from normlab.fast import accelerate
from normlab.fast.conv import FastConv2d
from normlab.models import LeNet5

needs_kernels = pytest.mark.skipif(
    kernels.load() is None, reason=f"normlab's C kernels are not built here: {kernels.status()}"
)

needs_cc = pytest.mark.skipif(shutil.which("cc") is None or not hasattr(os, "geteuid"),
                              reason="needs a C compiler (cc) and POSIX file ownership")


@pytest.fixture
def one_thread():
    """FastConv2d uses the kernels only with at most two torch threads; pin one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _reference(x, weight, bias, grad_out):
    """Output and gradients of F.conv2d in float64."""
    x64 = x.detach().double().requires_grad_(x.requires_grad)
    w64 = weight.detach().double().requires_grad_()
    b64 = bias.detach().double().requires_grad_()
    out = F.conv2d(x64, w64, b64)
    out.backward(grad_out.double())
    return out, (x64.grad if x.requires_grad else None), w64.grad, b64.grad


def _close(got, want, what):
    # float32 sums of up to ~10^4 terms against float64: relative to the largest magnitude.
    scale = want.abs().max().item() or 1.0
    err = (got.double() - want).abs().max().item() / scale
    assert err < 2e-5, f"{what}: relative error {err:.2e}"


@needs_kernels
@pytest.mark.parametrize(
    "n, ci, h, w, co, input_grad",
    [
        (64, 1, 32, 32, 6, False),  # LeNet-5's conv1 (wide kernel)
        (5, 1, 28, 28, 6, False),  # conv1 on raw 28x28 MNIST: 24-pixel rows, one overlapping block
        (2, 1, 21, 37, 13, False),  # non-square, channels past one block of 6
        (3, 1, 20, 20, 1, False),  # rows of exactly 16 outputs
        (64, 6, 14, 14, 16, True),  # LeNet-5's conv2 (narrow kernels)
        (3, 5, 12, 9, 7, True),  # fewer output channels than a vector
        (2, 13, 9, 16, 33, True),  # input rows of 16, channels past a block, H != W
        (1, 1, 5, 5, 1, True),  # the smallest input: one output pixel
        (4, 1, 16, 16, 6, True),  # conv1 of a 16x16 LeNet goes to the narrow kernels
    ],
)
def test_matches_pytorch_convolution_with_gradients(n, ci, h, w, co, input_grad):
    gen = torch.Generator().manual_seed(n * 1000 + ci * 100 + h + w + co)
    x = torch.randn(n, ci, h, w, generator=gen).requires_grad_(input_grad)
    weight = (torch.randn(co, ci, 5, 5, generator=gen) * 0.2).requires_grad_()
    bias = torch.randn(co, generator=gen).requires_grad_()
    assert kernels.conv5x5_applies(x, weight, bias)
    out = kernels.conv5x5(x, weight, bias)
    grad_out = torch.randn(out.shape, generator=gen)
    out.backward(grad_out)
    ref_out, ref_x, ref_w, ref_b = _reference(x, weight, bias, grad_out)
    assert out.shape == ref_out.shape and out.dtype == torch.float32
    _close(out, ref_out, "output")
    _close(weight.grad, ref_w, "weight gradient")
    _close(bias.grad, ref_b, "bias gradient")
    if input_grad:
        _close(x.grad, ref_x, "input gradient")


@needs_kernels
def test_bitwise_deterministic():
    gen = torch.Generator().manual_seed(0)
    for shape, co in (((16, 1, 32, 32), 6), ((16, 6, 14, 14), 16)):
        x = torch.randn(shape, generator=gen).requires_grad_(shape[1] > 1)
        weight = torch.randn(co, shape[1], 5, 5, generator=gen).requires_grad_()
        bias = torch.randn(co, generator=gen).requires_grad_()
        results = []
        for _ in range(2):
            weight.grad = bias.grad = x.grad = None
            out = kernels.conv5x5(x, weight, bias)
            out.backward(torch.ones_like(out))
            results.append([out.detach(), weight.grad, bias.grad] + ([x.grad] if x.requires_grad else []))
        for a, b in zip(*results):
            assert torch.equal(a, b)


@needs_kernels
def test_non_contiguous_input_and_gradient():
    gen = torch.Generator().manual_seed(1)
    base = torch.randn(32, 32, 8, 1, generator=gen)
    x = base.permute(2, 3, 0, 1)  # (8, 1, 32, 32), not contiguous
    weight = torch.randn(6, 1, 5, 5, generator=gen).requires_grad_()
    bias = torch.randn(6, generator=gen).requires_grad_()
    out = kernels.conv5x5(x, weight, bias)
    grad_out = torch.randn(6, 28, 28, 8, generator=gen).permute(3, 0, 1, 2)
    out.backward(grad_out)
    ref_out, _, ref_w, ref_b = _reference(x, weight, bias, grad_out)
    _close(out, ref_out, "output")
    _close(weight.grad, ref_w, "weight gradient")
    _close(bias.grad, ref_b, "bias gradient")


@pytest.mark.parametrize(
    "x, weight, bias, why",
    [
        (torch.randn(2, 1, 32, 32, dtype=torch.float64), torch.randn(6, 1, 5, 5, dtype=torch.float64),
         torch.randn(6, dtype=torch.float64), "float64"),
        (torch.randn(2, 1, 32, 32), torch.randn(6, 1, 3, 3), torch.randn(6), "3x3 kernel"),
        (torch.randn(2, 1, 32, 32), torch.randn(6, 1, 5, 5), None, "no bias"),
        (torch.randn(2, 1, 32, 32).requires_grad_(), torch.randn(6, 1, 5, 5), torch.randn(6),
         "wide input that needs a gradient"),
        (torch.randn(2, 3, 32, 32), torch.randn(6, 3, 5, 5), torch.randn(6), "wide rows, 3 channels"),
        (torch.randn(2, 6, 17, 17), torch.randn(16, 6, 5, 5), torch.randn(16), "17-pixel rows"),
        (torch.randn(2, 1, 4, 32), torch.randn(6, 1, 5, 5), torch.randn(6), "fewer rows than the kernel"),
        (torch.randn(1, 32, 32), torch.randn(6, 1, 5, 5), torch.randn(6), "unbatched input"),
        (torch.randn(2, 0, 14, 14), torch.randn(6, 0, 5, 5), torch.randn(6), "no input channels"),
        (torch.randn(2, 6, 14, 14), torch.randn(0, 6, 5, 5), torch.randn(0), "no output channels"),
    ],
)
def test_applies_only_where_the_kernels_compute_it(x, weight, bias, why):
    assert not kernels.conv5x5_applies(x, weight, bias), why


@pytest.mark.parametrize(
    "options, shape",
    [
        (dict(in_channels=1, out_channels=6, kernel_size=5), (3, 1, 32, 32)),
        (dict(in_channels=6, out_channels=16, kernel_size=5), (3, 6, 14, 14)),
        (dict(in_channels=1, out_channels=6, kernel_size=5, padding=2), (3, 1, 28, 28)),
        (dict(in_channels=1, out_channels=6, kernel_size=5, stride=2), (3, 1, 32, 32)),
        (dict(in_channels=2, out_channels=4, kernel_size=5, groups=2), (3, 2, 14, 14)),
        (dict(in_channels=1, out_channels=6, kernel_size=5, dilation=2), (3, 1, 32, 32)),
        (dict(in_channels=1, out_channels=6, kernel_size=5, bias=False), (3, 1, 32, 32)),
        (dict(in_channels=1, out_channels=6, kernel_size=5, padding="valid"), (3, 1, 32, 32)),
    ],
)
def test_fast_conv2d_is_a_drop_in_nn_conv2d(options, shape, one_thread):
    torch.manual_seed(0)
    fast = FastConv2d(**options)
    plain = nn.Conv2d(**options)
    plain.load_state_dict(fast.state_dict())
    assert list(fast.state_dict()) == list(plain.state_dict())
    x = torch.randn(shape)
    got, want = fast(x), plain(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    got.sum().backward()
    want.sum().backward()
    torch.testing.assert_close(fast.weight.grad, plain.weight.grad, rtol=1e-4, atol=1e-4)


@needs_kernels
def test_fast_conv2d_hooks_see_the_kernels_output(one_thread):
    conv = FastConv2d(1, 6, 5)
    seen = []
    conv.register_forward_hook(lambda module, inputs, output: seen.append(output))
    out = conv(torch.randn(2, 1, 32, 32))
    assert seen[0] is out
    assert out.grad_fn is not None and "Wide" in type(out.grad_fn).__name__  # the kernel ran


# In fresh processes, because the loaded library is remembered for the life of a process.
_TRAIN = textwrap.dedent("""
    import json, torch
    from normlab.fast import accelerate
    from normlab.models import LeNet5
    import normlab.fast.kernels as kernels
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = LeNet5(norm="batch")
    accelerate(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        x, y = torch.rand(32, 1, 32, 32, generator=gen), torch.randint(0, 10, (32,), generator=gen)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    grad_fn = type(model.conv2(torch.rand(2, 6, 14, 14, requires_grad=True)).grad_fn).__name__
    print(json.dumps({"status": kernels.status(), "grad_fn": grad_fn,
                      "params": {k: v.flatten().tolist() for k, v in model.state_dict().items()}}))
""")


def _run(code: str, **env) -> dict:
    import json

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@needs_kernels
def test_lenet_trains_the_same_with_and_without_kernels():
    fast = _run(_TRAIN)
    slow = _run(_TRAIN, NORMLAB_KERNELS="0")
    assert fast["status"].startswith("C kernels loaded") and fast["grad_fn"] == "_NarrowConvBackward"
    assert "disabled by NORMLAB_KERNELS=0" in slow["status"] and "Convolution" in slow["grad_fn"]
    for name, values in slow["params"].items():
        torch.testing.assert_close(torch.tensor(fast["params"][name]), torch.tensor(values),
                                   rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")


_STATUS = "import normlab.fast.kernels as k, warnings; warnings.simplefilter('always'); print(repr(k.status()))"


def _status(tmp_path, **env) -> tuple[str, str]:
    proc = subprocess.run([sys.executable, "-c", _STATUS], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path), **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip(), proc.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")
def test_build_is_cached_and_a_broken_cached_file_is_rebuilt(tmp_path):
    out, _ = _status(tmp_path)
    assert "C kernels loaded from" in out
    built = list((tmp_path / "normlab" / "kernels").glob("conv5x5-*"))
    assert len(built) == 1 and str(built[0]) in out
    stamp = built[0].stat().st_mtime_ns
    _status(tmp_path)
    assert built[0].stat().st_mtime_ns == stamp, "a second process rebuilt instead of loading the cache"
    assert not [p for p in built[0].parent.iterdir() if p.name.endswith(".tmp")]
    built[0].write_bytes(b"not a shared library")
    out, _ = _status(tmp_path)
    assert "could not load" in out and not built[0].exists()  # dropped, so that it is rebuilt
    out, _ = _status(tmp_path)
    assert "C kernels loaded from" in out


def test_without_a_compiler_pytorch_is_used(tmp_path):
    out, err = _status(tmp_path, CC="no-such-compiler-normlab")
    assert "no C compiler found (no-such-compiler-normlab)" in out and "set CC" in out
    assert "Warning" not in err


@pytest.mark.skipif(shutil.which("false") is None, reason="needs the 'false' command")
def test_a_failing_build_warns_once_and_falls_back(tmp_path):
    out, err = _status(tmp_path, CC="false")
    assert "build failed: false exited with 1" in out
    assert err.count("could not build its C kernels") == 1
    assert not list((tmp_path / "normlab" / "kernels").glob("*"))  # no partial file left


def test_disabled_by_environment(tmp_path):
    out, _ = _status(tmp_path, NORMLAB_KERNELS="0")
    assert "disabled by NORMLAB_KERNELS=0" in out
    assert not (tmp_path / "normlab").exists()


@needs_kernels
def test_accelerated_lenet_uses_fast_convolutions_with_the_posts_state_dict():
    model = LeNet5()
    assert type(model.conv1) is nn.Conv2d and type(model.conv2) is nn.Conv2d  # plain until accelerated
    weight = model.conv1.weight
    assert accelerate(model)["conv"] == ["conv1", "conv2"]
    assert type(model.conv1) is FastConv2d and type(model.conv2) is FastConv2d
    assert model.conv1.weight is weight  # the same parameters: an optimizer built before still works
    assert [k for k in model.state_dict() if k.startswith("conv")] == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"]


@needs_kernels
@pytest.mark.parametrize("shape, co", [((4, 1, 32, 32), 6), ((4, 6, 14, 14), 16)])
def test_higher_order_gradients_go_through_pytorch(shape, co, one_thread):
    """A gradient penalty (create_graph=True) gives nn.Conv2d's weight gradient, here in float64."""
    torch.manual_seed(0)
    fast, reference = FastConv2d(shape[1], co, 5), nn.Conv2d(shape[1], co, 5).double()
    reference.load_state_dict(fast.state_dict())
    x = torch.randn(shape)
    for conv, inputs in ((fast, x), (reference, x.double())):
        out = torch.tanh(conv(inputs))
        (grad_w,) = torch.autograd.grad(out.square().sum(), conv.weight, create_graph=True)
        grad_w.square().sum().backward()
    _close(fast.weight.grad, reference.weight.grad, "weight gradient of the penalty")


@needs_kernels
def test_more_than_two_threads_use_pytorch(one_thread):
    conv = FastConv2d(1, 6, 5)
    x = torch.randn(2, 1, 32, 32)
    assert "Wide" in type(conv(x).grad_fn).__name__
    torch.set_num_threads(3)
    assert "Convolution" in type(conv(x).grad_fn).__name__


@needs_cc
def test_an_unwritable_cache_builds_in_a_private_temporary_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out, err = _status(blocker, TMPDIR=str(scratch))  # XDG_CACHE_HOME is a file: no cache folder
    assert "C kernels loaded: cache directory" in out and "NotADirectoryError" in out, out
    assert "kernels built in a private temporary directory" in out
    assert not list(scratch.iterdir()), "the temporary directory was left behind"
    assert "Traceback" not in err


@needs_kernels
def test_inf_and_nan_propagate_as_in_pytorch(one_thread):
    """Non-finite values give PyTorch's pattern of inf and NaN, not extra NaNs from padding or overlap."""
    cases = []
    x = torch.ones(1, 1, 5, 28)
    x[0, 0, 2, 12] = float("inf")  # inside the overlap of a 24-wide row's two 16-wide blocks
    cases.append((x, torch.ones(1, 1, 5, 5)))
    x = torch.ones(2, 1, 32, 32)
    x[1, 0, 7, 30] = float("nan")
    cases.append((x, torch.ones(3, 1, 5, 5)))
    weight = torch.ones(1, 1, 5, 5)
    weight[0, 0, 0, 0] = float("inf")  # the input gradient reads zero padding against every weight
    cases.append((torch.ones(1, 1, 6, 6, requires_grad=True), weight))
    weight = torch.ones(4, 3, 5, 5)
    weight[2, 1, 4, 0] = float("-inf")
    cases.append((torch.ones(2, 3, 14, 14, requires_grad=True), weight))
    for x, weight in cases:
        grads = []
        for fn in (kernels.conv5x5, torch.nn.functional.conv2d):
            xi = x.detach().clone().requires_grad_(x.requires_grad)
            w = weight.clone().requires_grad_()
            b = torch.zeros(weight.shape[0], requires_grad=True)
            out = fn(xi, w, b)
            out.backward(torch.ones_like(out))
            grads.append([out.detach(), w.grad, b.grad] + ([xi.grad] if x.requires_grad else []))
        for got, want in zip(*grads):
            assert torch.equal(torch.isnan(got), torch.isnan(want))
            assert torch.equal(torch.isinf(got), torch.isinf(want))
            finite = torch.isfinite(want)
            torch.testing.assert_close(got[finite], want[finite])
            assert torch.equal(got[torch.isinf(want)], want[torch.isinf(want)])


@needs_kernels
def test_changing_the_bias_in_place_before_backward_is_no_error(one_thread):
    conv = FastConv2d(6, 16, 5)
    out = conv(torch.randn(2, 6, 14, 14, requires_grad=True))
    with torch.no_grad():
        conv.bias.add_(1.0)  # as F.conv2d allows: the gradients do not depend on the bias
    out.sum().backward()
    assert conv.bias.grad is not None


def test_an_unparsable_cc_falls_back(tmp_path):
    out, err = _status(tmp_path, CC='gcc "')
    assert "C kernels not used: ValueError" in out and "Traceback" not in err


@pytest.mark.skipif(shutil.which("false") is None, reason="needs the 'false' command")
def test_warnings_as_errors_raise_once_then_fall_back(tmp_path):
    code = textwrap.dedent("""
        import warnings
        import normlab.fast.kernels as k
        warnings.simplefilter("error")
        try:
            k.load()
        except RuntimeWarning as exc:
            print("raised:", "could not build" in str(exc))
        print("second:", k.load() is None)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path), "CC": "false"})
    assert proc.stdout.split() == ["raised:", "True", "second:", "True"], proc.stdout + proc.stderr


@needs_cc
def test_built_library_is_private_and_a_writable_one_is_not_loaded(tmp_path):
    out, _ = _status(tmp_path)
    (built,) = (tmp_path / "normlab" / "kernels").glob("conv5x5-*")
    assert built.stat().st_mode & 0o777 == 0o700, oct(built.stat().st_mode)
    assert (tmp_path / "normlab" / "kernels").stat().st_mode & 0o777 == 0o700
    built.chmod(0o702)
    out, _ = _status(tmp_path)
    assert f"not loading {built}: it is writable by group or others (delete it to have it rebuilt)" in out, out


@needs_cc
def test_under_umask_002_the_library_is_built_and_then_loaded(tmp_path):
    """Debian's default umask for users: group write on new files must not make normlab refuse its own build."""
    code = "import os; os.umask(0o002); " + _STATUS  # before normlab is imported: it reads the umask then
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
        assert "C kernels loaded from" in proc.stdout, proc.stdout + proc.stderr
        (built,) = (tmp_path / "normlab" / "kernels").glob("conv5x5-*")
        assert str(built) in proc.stdout
        if _ == 0:
            stamp = built.stat().st_mtime_ns
    assert built.stat().st_mtime_ns == stamp, "the second process rebuilt instead of loading its cache"
    assert built.stat().st_mode & 0o077 == 0 and built.parent.stat().st_mode & 0o077 == 0


def _refused(tmp_path, kernels_dir, why):
    """The status line when the cache folder is refused: built and loaded elsewhere, nothing left behind."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out, err = _status(tmp_path, TMPDIR=str(scratch))
    assert f"C kernels loaded: cache directory {kernels_dir} {why} (remove it to have normlab make a private one); " \
        in out, out + err
    assert "kernels built in a private temporary directory" in out
    assert not list(scratch.iterdir()), "the temporary directory was left behind"
    return out


@needs_cc
def test_a_symlinked_cache_directory_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"  # private and ours: only the link itself is at fault
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "normlab").mkdir()
    (tmp_path / "normlab" / "kernels").symlink_to(elsewhere)
    _refused(tmp_path, tmp_path / "normlab" / "kernels", "is a symbolic link")
    assert not list(elsewhere.iterdir()), "built into the folder behind the link"


@needs_cc
@pytest.mark.parametrize("mode", [0o770, 0o703])
def test_a_cache_directory_others_can_write_to_is_refused(tmp_path, mode):
    shared = tmp_path / "normlab" / "kernels"
    shared.mkdir(parents=True)
    shared.chmod(mode)
    _refused(tmp_path, shared, "is writable by group or others")
    assert not list(shared.iterdir())
    assert shared.stat().st_mode & 0o777 == mode  # reported, not silently changed


@pytest.mark.skipif(shutil.which("false") is None or not hasattr(os, "geteuid"), reason="needs 'false' and POSIX")
def test_a_refused_cache_and_a_failing_build_fall_back_to_pytorch(tmp_path):
    shared = tmp_path / "normlab" / "kernels"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out, err = _status(tmp_path, CC="false", TMPDIR=str(scratch))
    assert out.startswith("'C kernels not used: build failed: false exited with 1 (building in a private temporary "
                          f"directory: cache directory {shared} is writable by group or others"), out
    assert err.count("could not build its C kernels") == 1
    assert not list(scratch.iterdir()) and not list(shared.iterdir())


def _fake_owner(monkeypatch, inode: int, uid: int) -> None:
    """Make os.fstat report ``uid`` as the owner of the file with inode ``inode``, as chown would."""
    real = os.fstat

    def fstat(fd):
        st = real(fd)
        if st.st_ino != inode:
            return st
        fields = list(st[:10])
        fields[4] = uid
        return os.stat_result(fields)

    monkeypatch.setattr(os, "fstat", fstat)


@needs_cc
def test_a_library_owned_by_someone_else_is_never_loaded(tmp_path, monkeypatch):
    from normlab.fast.kernels import build

    _status(tmp_path)
    (built,) = (tmp_path / "normlab" / "kernels").glob("conv5x5-*")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _fake_owner(monkeypatch, built.stat().st_ino, os.geteuid() + 1)
    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: pytest.fail(f"loaded {a}"))
    lib, _, reason, _ = build._build_and_load()
    assert lib is None and f"not loading {built}: it belongs to another user (uid {os.geteuid() + 1})" in reason


@needs_cc
def test_a_cache_directory_owned_by_someone_else_is_refused(tmp_path, monkeypatch):
    from normlab.fast.kernels import build

    kernels_dir = tmp_path / "normlab" / "kernels"
    kernels_dir.mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "scratch"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read $TMPDIR again
    (tmp_path / "scratch").mkdir()
    _fake_owner(monkeypatch, kernels_dir.stat().st_ino, os.geteuid() + 1)
    loaded = []
    # Record which file would be mapped instead of mapping it: this process already holds the library.
    monkeypatch.setattr(ctypes, "CDLL", lambda name: loaded.append(os.readlink(name)) or mock.MagicMock())
    lib, _, reason, _ = build._build_and_load()
    assert lib is not None and not list(kernels_dir.iterdir())
    assert f"cache directory {kernels_dir} belongs to another user (uid {os.geteuid() + 1})" in reason
    assert len(loaded) == 1 and loaded[0].startswith(str(tmp_path / "scratch")), loaded


# Run in a fresh process: it swaps the cached library for junk just before the library is mapped.
_SWAP = textwrap.dedent("""
    import ctypes, os, sys
    import normlab.fast.kernels as k
    real = ctypes.CDLL
    def swap_then_load(name, *args, **kwargs):
        with open(sys.argv[1] + ".junk", "wb") as fh:
            fh.write(b"not the library that was checked")
        os.replace(sys.argv[1] + ".junk", sys.argv[1])  # what another user who can write there could do
        return real(name, *args, **kwargs)
    ctypes.CDLL = swap_then_load
    print(repr(k.status()))
""")


@needs_cc
def test_the_library_checked_is_the_library_loaded(tmp_path):
    _status(tmp_path)
    (built,) = (tmp_path / "normlab" / "kernels").glob("conv5x5-*")
    proc = subprocess.run([sys.executable, "-c", _SWAP, str(built)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert f"C kernels loaded from {built}" in proc.stdout, proc.stdout + proc.stderr
    assert built.read_bytes() == b"not the library that was checked"  # the swap did happen


@needs_cc
def test_a_symlinked_library_is_not_loaded(tmp_path):
    _status(tmp_path)
    (built,) = (tmp_path / "normlab" / "kernels").glob("conv5x5-*")
    moved = tmp_path / "moved.so"
    built.rename(moved)
    built.symlink_to(moved)
    out, _ = _status(tmp_path)
    assert f"C kernels not used: not loading {built}: it is a symbolic link" in out, out


def test_without_proc_self_fd_pytorch_is_used(tmp_path, monkeypatch):
    from normlab.fast.kernels import build

    missing = tmp_path / "no-such-dir"  # as on macOS or Windows
    monkeypatch.setattr(build, "_FD_DIR", str(missing))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", sys.executable)  # found by which(); never run
    lib, _, reason, _ = build._build_and_load()
    assert lib is None and reason == f"no {missing} to load a checked library through; using PyTorch's convolution"
    assert not (tmp_path / "normlab").exists()
