# Copyright (c) mmscalenet contributors. All rights reserved.
"""ONNX export and torch.compile of the plain and deploy models, where the
toolchain is present (onnx + onnxruntime from PyPI; a C++ compiler)."""
import copy
import shutil

import pytest
import torch
from helpers import randomize_norms

from mmscalenet.models import SABlock, ScaleNet
from mmscalenet.rewrites import apply_rewrites


@pytest.mark.parametrize(
    'deploy', [pytest.param(False, marks=pytest.mark.slow), True])
def test_onnx_export_with_dynamic_image_size(tmp_path, deploy):
    pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    model = ScaleNet(50, 'scalenet50', out_indices=(2, 3)).eval()
    if deploy:
        model = copy.deepcopy(model).switch_to_deploy()
    path = tmp_path / 'scalenet50.onnx'
    torch.onnx.export(
        model, (torch.randn(1, 3, 224, 224), ),
        str(path),
        opset_version=17,
        dynamo=False,
        input_names=['image'],
        output_names=['c4', 'c5'],
        dynamic_axes={'image': {0: 'batch', 2: 'height', 3: 'width'}})
    session = ort.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    # Classification and detection sizes (stage 4 at least 7x7).
    for size in ((224, 224), (800, 1216)):
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            expected = model(x)
        got = session.run(None, {'image': x.numpy()})
        for e, g in zip(expected, got):
            assert g.shape == tuple(e.shape)
            assert torch.allclose(
                torch.from_numpy(g), e, rtol=1e-4,
                atol=1e-4 * e.abs().max().item())


@pytest.mark.skipif(
    shutil.which('c++') is None and shutil.which('g++') is None,
    reason='torch.compile needs a C++ compiler on the CPU')
@pytest.mark.slow  # inductor's code generation: 10-15 s
def test_torch_compile_sa_block_plain_and_deploy():
    block = SABlock(16, [8, 4, 4, 2], side=28).eval()
    for m in block.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
            m.running_mean.uniform_(-0.5, 0.5)
    x = torch.randn(2, 16, 28, 28)
    with torch.no_grad():
        expected = block(x)
        compiled = torch.compile(block)(x)
        deploy = copy.deepcopy(block).switch_to_deploy()
        compiled_deploy = torch.compile(deploy)(x)
    assert torch.allclose(compiled, expected, atol=1e-5)
    assert torch.allclose(compiled_deploy, expected, atol=1e-5)


@pytest.mark.skipif(
    shutil.which('c++') is None and shutil.which('g++') is None,
    reason='torch.compile needs a C++ compiler on the CPU')
@pytest.mark.slow
def test_torch_compile_sa_block_training():
    # Training with the pooled-norm rewrite: norms of repeated scales on the
    # pooled maps, running variance rescaled; compiled outputs, gradients
    # and statistics must equal eager ones.
    eager = apply_rewrites(SABlock(16, [8, 4, 4, 2], side=28).train(),
                           'pooled-norm')
    compiled_block = copy.deepcopy(eager)
    compiled = torch.compile(compiled_block)
    x = torch.randn(4, 16, 28, 28)
    out, expected = compiled(x), eager(x)
    assert torch.allclose(out, expected, atol=1e-5)
    # Not a function of the normalized outputs alone (whose sum of squares
    # does not depend on the conv weights).
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    for (name, a), b in zip(compiled_block.named_parameters(),
                            eager.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4,
                              atol=1e-5 * b.grad.abs().max()), name
    for (name, a), b in zip(compiled_block.named_buffers(), eager.buffers()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name


@pytest.mark.parametrize('deploy',
                         [pytest.param(False, marks=pytest.mark.slow), True])
def test_whole_scalenet_traces_as_one_graph(deploy):
    # torch.compile of a whole ScaleNet must see one graph, the plain model
    # and the README's deploy path for latency (switch_to_deploy(), then
    # torch.compile of the backbone). On the H100's torch 2.11, dynamo broke
    # the graph in the SA block at max(..., default=...) (now a loop),
    # recompiled the block's concatenation per block shape, fell back to
    # eager and skipped CUDA graphs (20 ms where the eager net takes 11).
    # torch 2.14, here, traces that builtin, so this guards against new
    # breaks on this torch. backend='eager' traces without code generation
    # (inductor's code for an SA block, plain and deploy: the tests above),
    # and fullgraph=True raises at the first break.
    import torch._dynamo
    torch._dynamo.reset()
    model = randomize_norms(ScaleNet(50, 'scalenet50', out_indices=(3, )))
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        if deploy:
            model.switch_to_deploy()
        traced = torch.compile(model, backend='eager', fullgraph=True)(x)
    if deploy:
        torch.testing.assert_close(traced[0], expected[0], rtol=1e-4,
                                   atol=1e-4 * expected[0].abs().max().item())
    else:
        assert torch.equal(traced[0], expected[0])
