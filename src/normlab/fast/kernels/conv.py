"""5x5 convolutions (stride 1, no padding) through normlab's C kernels, as autograd functions.

Two kernel families cover LeNet-5's two convolutions at every input size it accepts:

- *wide*: one input channel, output rows of at least 16 pixels (``conv1`` on 28x28 or 32x32
  images). Forward and weight gradient; an image batch never needs an input gradient.
- *narrow*: any number of channels, input rows of at most 16 pixels (``conv2``, and ``conv1``
  on 16x16 to 20x20 images). Forward, weight and input gradients.

Everything else is the caller's to send to PyTorch (:func:`conv5x5_applies` says which).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from normlab.fast.kernels.build import load

__all__ = ["conv5x5", "conv5x5_applies"]

_K = 5
_LANES = 16  # the kernels' vector width
_CHANNEL_BLOCK = 6  # input channels per pass of the narrow input-gradient kernel
_PAD_W = _K - 1 + _LANES  # a zero-padded grad_out row in that kernel


def _blocks(n: int, size: int) -> int:
    return -(-n // size)


def _is_wide(x: torch.Tensor) -> bool:
    return x.shape[1] == 1 and x.shape[3] - (_K - 1) >= _LANES


def _is_narrow(x: torch.Tensor) -> bool:
    return _K <= x.shape[3] <= _LANES


def conv5x5_applies(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> bool:
    """True when :func:`conv5x5` can compute ``F.conv2d(x, weight, bias)``.

    That needs the C kernels built (see :func:`normlab.fast.kernels.status`); CPU float32 tensors;
    ``x`` of shape (N, C, H, W) with H >= 5, ``weight`` (C_out, C, 5, 5) and a bias; and either
    one input channel and W >= 20, with ``x`` not requiring a gradient, or 5 <= W <= 16.
    Stride 1, no padding, no dilation and one group are the caller's to check.
    """
    if not (bias is not None and x.dim() == 4 and weight.dim() == 4 and x.shape[1] >= 1 and weight.shape[0] >= 1
            and weight.shape[1:] == (x.shape[1], _K, _K) and bias.shape == (weight.shape[0],) and x.shape[2] >= _K
            and x.dtype == weight.dtype == bias.dtype == torch.float32
            and x.device.type == weight.device.type == bias.device.type == "cpu"
            and x.layout == weight.layout == bias.layout == torch.strided):
        return False
    if not (_is_narrow(x) or (_is_wide(x) and not x.requires_grad)):
        return False
    return load() is not None


def _save_and_prepare(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
    """Save what backward needs; return the three tensors contiguous, for the kernels' pointers."""
    # The bias is kept off the saved tensors: the kernels' backward never reads it, so changing it
    # in place before backward is no error (as with F.conv2d); only _pytorch_backward uses it.
    ctx.save_for_backward(x, weight)
    ctx.bias = bias
    return x.contiguous(), weight.detach().contiguous(), bias.detach().contiguous()


def _pytorch_backward(ctx, grad_out: torch.Tensor):
    """The gradients by PyTorch's own convolution, as a differentiable graph.

    Used under ``create_graph=True`` (a gradient penalty, a Hessian-vector product): the C
    kernels' gradients have no backward of their own.
    """
    inputs = (*ctx.saved_tensors, ctx.bias)
    wanted = [t for t, need in zip(inputs, ctx.needs_input_grad) if need]
    with torch.enable_grad():
        grads = iter(torch.autograd.grad(F.conv2d(*inputs), wanted, grad_out, create_graph=torch.is_grad_enabled()))
    return tuple(next(grads) if need else None for need in ctx.needs_input_grad)


class _WideConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x, weight, bias = _save_and_prepare(ctx, x, weight, bias)
        n, _, h, w = x.shape
        out = x.new_empty((n, weight.shape[0], h - _K + 1, w - _K + 1))
        load().normlab_conv5x5_c1_forward(x.data_ptr(), weight.data_ptr(), bias.data_ptr(), out.data_ptr(),
                                          n, h, w, weight.shape[0])
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        if torch.is_grad_enabled():
            return _pytorch_backward(ctx, grad_out)
        x, weight = ctx.saved_tensors
        x, grad_out = x.contiguous(), grad_out.contiguous()
        n, _, h, w = x.shape
        co = weight.shape[0]
        grad_weight = x.new_empty((co, 1, _K, _K))
        grad_bias = x.new_empty((co,))
        load().normlab_conv5x5_c1_backward_weight(x.data_ptr(), grad_out.data_ptr(), grad_weight.data_ptr(),
                                                  grad_bias.data_ptr(), n, h, w, co)
        return None, grad_weight, grad_bias


class _NarrowConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x, weight, bias = _save_and_prepare(ctx, x, weight, bias)
        n, ci, h, w = x.shape
        co = weight.shape[0]
        out = x.new_empty((n, co, h - _K + 1, w - _K + 1))
        workspace = x.new_empty(_blocks(co, _LANES) * _LANES * ci * _K * _K)
        load().normlab_conv5x5_forward(x.data_ptr(), weight.data_ptr(), bias.data_ptr(), out.data_ptr(),
                                       workspace.data_ptr(), n, ci, h, w, co)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        if torch.is_grad_enabled():
            return _pytorch_backward(ctx, grad_out)
        x, weight = ctx.saved_tensors
        x, weight, grad_out = x.contiguous(), weight.contiguous(), grad_out.contiguous()
        n, ci, h, w = x.shape
        co = weight.shape[0]
        oh, ow = h - _K + 1, w - _K + 1
        lib = load()
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.empty_like(x)
            workspace = x.new_empty(n * co * oh * _PAD_W + _K * _K * co * _blocks(ci, _CHANNEL_BLOCK) * _CHANNEL_BLOCK)
            if lib.normlab_conv5x5_backward_input(grad_out.data_ptr(), weight.data_ptr(), grad_x.data_ptr(),
                                                  workspace.data_ptr(), n, ci, h, w, co):
                # A weight is inf or NaN (see conv5x5.c): PyTorch's input gradient.
                grad_x = torch.ops.aten.convolution_backward(
                    grad_out, x, weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [True, False, False])[0]
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            grad_weight = torch.empty_like(weight)
            grad_bias = x.new_empty((co,))
            workspace = x.new_empty(n * oh * ow * _blocks(co, _LANES) * _LANES)
            lib.normlab_conv5x5_backward_weight(x.data_ptr(), grad_out.data_ptr(), grad_weight.data_ptr(),
                                                grad_bias.data_ptr(), workspace.data_ptr(), n, ci, h, w, co)
        return grad_x, grad_weight, grad_bias


def conv5x5(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``F.conv2d(x, weight, bias)`` for a 5x5 kernel, stride 1, no padding, by normlab's C kernels.

    Equal to PyTorch's convolution up to float rounding, gradients included; deterministic
    (the same inputs give the same bits on every call). Under ``create_graph=True`` the
    backward pass is PyTorch's, so higher-order gradients work. Check :func:`conv5x5_applies`
    first: this function does not fall back.
    """
    if _is_wide(x) and not x.requires_grad:
        return _WideConv.apply(x, weight, bias)
    return _NarrowConv.apply(x, weight, bias)
