# Copyright (c) mmscalenet contributors. All rights reserved.
"""GPU-shaped channel counts: every SA scale padded to a multiple.

The published allocations keep channel counts like 62, 9, 5, 12 per scale;
tensor-core kernels (TF32, fp16, bf16) want multiples of 8. Two exact ways
to give them that, both here:

- :func:`pad_deployed_block`, for inference (``ScaleNet.switch_to_deploy(
  channel_multiple=8)``): each scale's folded conv gets zero filters up to
  the multiple and the block's 1x1 conv after it zero input columns for
  them. The outputs do not change; the MACs on paper grow.
- :func:`widen_published_state`, for training from the published weights
  (``ScaleNet(..., channel_multiple=8)``, the usual detection and
  segmentation flow): a checkpoint of the published structure loads into
  the padded net with its weights in the first channels of every scale;
  the extra channels keep the padded net's fresh initialisation, and the
  block's 1x1 conv reads them through input columns that start at zero, so
  the net computes the authors' function at the start. Zeroing the extra
  channels' BN gamma and beta instead would preserve the function too, but
  would leave them dead: their output would be exactly 0 and the ReLU after
  the SA block passes no gradient at 0. Zero columns receive gradient from
  the first step (the channels behind them are non-zero), and the channels
  from the step after.
"""
from typing import Dict, List, Sequence

import torch
import torch.nn as nn


def scale_offsets(channels: Sequence[int]) -> List[int]:
    """Where each scale starts in the block's concatenated output.

    Example:
        >>> scale_offsets([62, 9, 5, 12])
        [0, 62, 71, 76]
    """
    offsets, start = [], 0
    for c in channels:
        offsets.append(start)
        start += c
    return offsets


def _grown_conv(conv: nn.Conv2d, out_channels: int,
                in_channels: int) -> nn.Conv2d:
    """A conv like ``conv`` with more filters and/or input channels."""
    return nn.Conv2d(
        in_channels,
        out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        device=conv.weight.device,
        dtype=conv.weight.dtype)


@torch.no_grad()
def pad_deployed_block(block: nn.Module, multiple: int) -> None:
    """Pad a deployed :class:`SABottleneck` (norms folded into its convs)
    to ``multiple`` channels per scale, exactly: zero filters and biases
    for the extra channels of each scale, zero input columns for them in
    ``conv3``. The block's outputs do not change."""
    sa = block.conv2
    old = list(sa.out_channels)
    new = [-(-c // multiple) * multiple for c in old]
    if new == old:
        return
    if not isinstance(block.conv3, nn.Conv2d) or any(
            not isinstance(sa.norms[str(i)], nn.Identity) for i in sa.scales):
        raise RuntimeError('pad_deployed_block needs a deployed block: call '
                           'switch_to_deploy() first')
    for i in sa.scales:
        conv = sa.convs[str(i)]
        grown = _grown_conv(conv, new[i], conv.in_channels)
        grown.weight.zero_()
        grown.weight[:old[i]] = conv.weight
        if conv.bias is not None:
            grown.bias.zero_()
            grown.bias[:old[i]] = conv.bias
        sa.convs[str(i)] = grown
    conv3 = block.conv3
    grown = _grown_conv(conv3, conv3.out_channels, sum(new))
    grown.weight.zero_()
    for i, (src, dst) in enumerate(zip(scale_offsets(old),
                                       scale_offsets(new))):
        grown.weight[:, dst:dst + old[i]] = conv3.weight[:, src:src + old[i]]
    if conv3.bias is not None:
        grown.bias.copy_(conv3.bias)
    block.conv3 = grown
    sa.out_channels = new


@torch.no_grad()
def widen_published_state(state_dict: Dict[str, torch.Tensor], prefix: str,
                          own: Dict[str, torch.Tensor],
                          published: Sequence[Sequence[int]],
                          padded: Sequence[Sequence[int]],
                          block_prefixes: Sequence[str]) -> int:
    """Widen, in place, the SA tensors of a published-structure checkpoint
    to a padded net's shapes.

    Args:
        state_dict (dict): The checkpoint's tensors (module keys under
            ``prefix``); changed in place.
        prefix (str): The module's prefix in ``state_dict``.
        own (dict): The padded net's own state (its initial values fill
            the extra channels' filters and norms).
        published (Sequence[Sequence[int]]): Per block, the published
            channels per scale.
        padded (Sequence[Sequence[int]]): Per block, the padded ones.
        block_prefixes (Sequence[str]): Per block, its key prefix (e.g.
            ``'layer1.0.'``).

    Returns:
        int: The blocks widened (0 where the checkpoint already has the
        padded shapes).
    """
    widened = 0
    for old, new, block in zip(published, padded, block_prefixes):
        if list(old) == list(new):
            continue
        conv3 = f'{prefix}{block}conv3.weight'
        if conv3 not in state_dict or state_dict[conv3].shape[1] != sum(old):
            continue  # already padded, or not this block's tensors
        for i, (c_old, c_new) in enumerate(zip(old, new)):
            if c_new == c_old:
                continue
            for key in [f'{block}conv2.convs.{i}.weight'] + [
                    f'{block}conv2.norms.{i}.{name}' for name in (
                        'weight', 'bias', 'running_mean', 'running_var')]:
                if prefix + key in state_dict:
                    grown = own[key].clone()
                    grown[:c_old] = state_dict[prefix + key]
                    state_dict[prefix + key] = grown
        grown = torch.zeros_like(own[f'{block}conv3.weight'])
        for c_old, src, dst in zip(old, scale_offsets(old),
                                   scale_offsets(new)):
            grown[:, dst:dst + c_old] = state_dict[conv3][:, src:src + c_old]
        state_dict[conv3] = grown
        widened += 1
    return widened
