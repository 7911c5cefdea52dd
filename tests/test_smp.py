# Copyright (c) mmscalenet contributors. All rights reserved.
"""segmentation_models_pytorch on the timm route: its universal encoder
(``encoder_name='tu-scalenet50'``) builds ScaleNet-50 through
``timm.create_model(features_only=True, output_stride=...)``; each of the
six architectures segmentation users pick smp for trains a step, and the
authors' weights reach the encoder through smp's ``encoder_weights``."""
import pytest
import segmentation_models_pytorch as smp
import timm
import torch
import torch.nn.functional as F
from helpers import randomize_norms
from safetensors.torch import save_file

import mmscalenet.timm  # noqa: F401  (registers the ScaleNets with timm)

# The architecture, its input side (PAN's pyramid attention pools its
# stride-16 map by 8 more) and the encoder's output stride smp asks for.
ARCHITECTURES = [
    ('Unet', 64, 32),
    ('FPN', 64, 32),
    ('DeepLabV3', 64, 8),
    ('DeepLabV3Plus', 64, 16),
    ('PAN', 128, 16),
    ('UPerNet', 64, 32),
]


@pytest.mark.parametrize('arch,side,output_stride', ARCHITECTURES)
def test_each_architecture_trains_a_step_on_scalenet50(
        arch, side, output_stride):
    torch.manual_seed(0)
    model = getattr(smp, arch)('tu-scalenet50', encoder_weights=None,
                               classes=3).train()
    reductions = model.encoder.model.feature_info.reduction()
    assert max(reductions) == output_stride
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(2, 3, side, side)
    y = torch.randint(0, 3, (2, side, side))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    logits = model(x)
    assert logits.shape == (2, 3, side, side)
    loss = F.cross_entropy(logits, y)
    assert torch.isfinite(loss)
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, no_grad
    optimizer.step()
    # The first step moves the stem and every block's last norm (which
    # starts at zero, so the convs inside a block move from the second).
    moved = {
        n for n, p in model.named_parameters()
        if n.startswith('encoder.') and not torch.equal(p, before[n])
    }
    assert 'encoder.model.conv1.weight' in moved
    norm3 = [n for n in before if n.startswith('encoder.model.layer')
             and n.endswith(('norm3.weight', 'bn3.weight'))]
    assert norm3 and set(norm3) <= moved


def test_the_authors_weights_reach_the_encoder(tmp_path, monkeypatch):
    """``encoder_weights=True`` (smp's switch for tu- encoders) loads the
    config's local file, here from ``$MMSCALENET_WEIGHTS`` as
    ``tools/convert_official.py`` writes it (``backbone.*`` names)."""
    torch.manual_seed(1)
    source = randomize_norms(
        timm.create_model('scalenet50', num_classes=0), seed=2)
    save_file(
        {f'backbone.{k}': v.contiguous()
         for k, v in source.state_dict().items()},
        str(tmp_path / 'scalenet50_authors_in1k.safetensors'))
    monkeypatch.setenv('MMSCALENET_WEIGHTS', str(tmp_path))
    model = smp.DeepLabV3Plus('tu-scalenet50', encoder_weights=True,
                              classes=3)
    encoder = model.encoder.model.state_dict()
    expected = source.state_dict()
    assert len(encoder) > 300
    for name, tensor in encoder.items():
        assert torch.equal(tensor, expected[name]), name
