# Copyright (c) mmscalenet contributors. All rights reserved.
"""The timm route: ``import mmscalenet.timm`` registers the four published
ScaleNets with timm.

The first tests are timm's own per-model checks (``tests/test_models.py`` of
pytorch-image-models at aa4b585, the version pinned in
requirements/timm.txt: forward, backward, default config, features_only,
forward_intermediates, fx forward and backward), at timm's sizes, run on
every registered ScaleNet. TorchScript is left out: the SA block chooses
each scale's pooling window and upsampling in Python at run time, from the
input's shape, which ``torch.jit.script`` cannot compile (it is
deprecated in torch >= 2.10);
tracing-based ONNX export and torch.fx work and are tested.

Then what timm's checks cannot see: the feature levels' values, the
authors' weights through safetensors (timm and MM alike), in_chans,
timm's layer-wise lr decay, and the fine-tuning example of docs/timm.md.
"""
import math
import re
import runpy

import pytest
import timm
import torch
from helpers import REPO, randomize_norms, run_main, run_python
from mmengine.registry import MODELS
from mmscalenet.analysis.official_scalenet import OfficialScaleNet
from timm.layers import get_channel_dim, get_spatial_dim
from timm.models import get_notrace_functions, get_notrace_modules

import mmscalenet.timm as scalenet_timm
from mmscalenet.models import PUBLISHED_VARIANTS
from mmscalenet.models.scalenet import SABottleneck

MODEL_NAMES = sorted(PUBLISHED_VARIANTS)
#: The models timm's per-model checks run on. The variants share every
#: module and differ only by their structure file, so the checks run on
#: ScaleNet-50, and each variant gets the cheap check below (timm's own
#: suite likewise leaves its large models out of these checks).
CHECKED = ['scalenet50']

# timm's sizes (tests/test_models.py): its targets for each check.
TARGET_BWD_SIZE = 128
TARGET_FFEAT_SIZE = 96
TARGET_FX_SIZE = 128


def input_size(model, target=None):
    """timm's ``_get_input_size`` for a model without a fixed size."""
    size = model.default_cfg['input_size']
    if target and max(size) > target:
        size = tuple(min(x, target) for x in size)
    return size


def test_the_four_published_scalenets_are_registered_with_their_tag():
    assert sorted(timm.list_models('scalenet*')) == MODEL_NAMES
    assert sorted(timm.list_pretrained('scalenet*')) == [
        f'{name}.authors_in1k' for name in MODEL_NAMES
    ]
    cfg = timm.models.get_pretrained_cfg('scalenet50')
    assert cfg.file == scalenet_timm.weights_file('scalenet50')
    assert (cfg.input_size, cfg.crop_pct, cfg.interpolation, cfg.mean,
            cfg.std) == ((3, 224, 224), 0.875, 'bilinear',
                         (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert cfg.url is None and cfg.hf_hub_id is None  # nothing downloads


@pytest.mark.parametrize('model_name', MODEL_NAMES)
def test_every_variant_builds_its_structure_and_runs(model_name):
    """The cheap check of each variant: its structure's channels in its
    blocks, its published parameter count, a forward pass, and its feature
    levels."""
    from mmscalenet.models import ChannelSpec
    model = timm.create_model(model_name).eval()
    blocks = [m.conv2 for m in model.modules()
              if isinstance(m, SABottleneck)]
    assert [list(b.out_channels) for b in blocks] == [
        list(row[:-1]) for row in ChannelSpec.load(model_name).rows()
    ]
    assert sum(p.numel() for p in model.parameters()) == \
        PUBLISHED_VARIANTS[model_name].params
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    features = timm.create_model(model_name, features_only=True)
    assert features.feature_info.reduction() == [2, 4, 8, 16, 32]


@pytest.mark.parametrize('model_name', CHECKED)
def test_model_forward(model_name):
    """timm: one forward pass; grad checkpointing keeps the outputs."""
    model = timm.create_model(model_name, pretrained=False).eval()
    inputs = torch.randn(1, *input_size(model))
    outputs = model(inputs)
    assert outputs.shape == (1, 1000)
    assert not torch.isnan(outputs).any()
    model.set_grad_checkpointing()
    assert torch.allclose(model(inputs), outputs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('model_name', CHECKED)
def test_model_backward(model_name):
    """timm: every parameter gets a gradient, at 42 classes; and with
    grad checkpointing (every block recomputed) the same gradients."""
    model = timm.create_model(model_name, pretrained=False, num_classes=42)
    model.train()
    inputs = torch.randn(2, *input_size(model, TARGET_BWD_SIZE))
    outputs = model(inputs)
    outputs.mean().backward()
    for n, x in model.named_parameters():
        assert x.grad is not None, f'No gradient for {n}'
    assert outputs.shape[-1] == 42
    assert sum(x.numel() for x in model.parameters()) == sum(
        x.grad.numel() for x in model.parameters())
    assert not torch.isnan(outputs).any()
    grads = [x.grad.clone() for x in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing()
    model(inputs).mean().backward()
    for g, x in zip(grads, model.parameters()):
        assert torch.allclose(x.grad, g, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('model_name', CHECKED)
def test_model_default_cfgs(model_name):
    """timm: forward_features / forward_head(pre_logits) against the
    config's pool size and num_features, the classifier reset, the
    classifier and pooling left out at construction, and the config's
    first_conv and classifier naming real parameters."""
    model = timm.create_model(model_name, pretrained=False).eval()
    assert model.num_classes == 1000
    assert model.num_features == model.head_hidden_size == 2048
    state_dict = model.state_dict()
    cfg = model.default_cfg
    pool_size = cfg['pool_size']
    spatial_axis = get_spatial_dim('NCHW')
    feat_axis = get_channel_dim('NCHW')
    x = torch.randn(1, *cfg['input_size'])

    outputs = model.forward_features(x)
    outputs_pre = model.forward_head(outputs, pre_logits=True)
    assert tuple(outputs.shape[i] for i in spatial_axis) == pool_size
    assert outputs.shape[feat_axis] == model.num_features
    assert outputs_pre.shape[1] == model.head_hidden_size

    model.reset_classifier(0)
    assert model.num_classes == 0
    outputs = model(x)
    assert outputs.shape == outputs_pre.shape == (1, 2048)
    model.reset_classifier(0, '')
    outputs = model(x)
    assert outputs.dim() == 4
    assert tuple(outputs.shape[i] for i in spatial_axis) == pool_size

    model = timm.create_model(
        model_name, pretrained=False, num_classes=0, global_pool='').eval()
    outputs = model(x)
    assert outputs.dim() == 4
    assert tuple(outputs.shape[i] for i in spatial_axis) == pool_size

    assert cfg['classifier'] + '.weight' in state_dict
    assert cfg['first_conv'] + '.weight' in state_dict


def check_feature_shapes(model, outputs, size):
    channels = model.feature_info.channels()
    reductions = model.feature_info.reduction()
    assert channels == [64, 256, 512, 1024, 2048]
    assert reductions == [2, 4, 8, 16, 32]
    assert len(outputs) == 5
    for c, r, o in zip(channels, reductions, outputs):
        assert o.shape[1] == c
        assert o.shape[2] <= math.ceil(size[0] / r) + 1
        assert o.shape[3] <= math.ceil(size[1] / r) + 1
        assert not torch.isnan(o).any()


@pytest.mark.parametrize('feature_cls', [None, 'getter'])
@pytest.mark.parametrize('model_name', CHECKED)
def test_model_forward_features(model_name, feature_cls):
    """timm: features_only, with timm's default wrapper and with the
    forward_intermediates one ('getter')."""
    kwargs = dict(feature_cls=feature_cls) if feature_cls else {}
    model = timm.create_model(
        model_name, pretrained=False, features_only=True, **kwargs).eval()
    size = input_size(model, TARGET_FFEAT_SIZE)
    check_feature_shapes(model, model(torch.randn(1, *size)), size[1:])


@pytest.mark.parametrize('model_name', CHECKED)
def test_model_forward_intermediates(model_name):
    """timm: forward_intermediates gives every level, ends with what
    forward_features gives, and keeps it with grad checkpointing."""
    model = timm.create_model(model_name, pretrained=False).eval()
    feature_info = timm.models.FeatureInfo(model.feature_info,
                                           len(model.feature_info))
    size = input_size(model, TARGET_FFEAT_SIZE)
    x = torch.randn(1, *size)
    output, intermediates = model.forward_intermediates(x)
    feature_info_model = type('M', (), dict(feature_info=feature_info))
    check_feature_shapes(feature_info_model, intermediates, size[1:])
    assert torch.allclose(output, model.forward_features(x))
    model.set_grad_checkpointing()
    output3, _ = model.forward_intermediates(x)
    assert torch.allclose(output, output3, rtol=1e-4, atol=1e-5)
    # timm's index rules: the last n levels, a list, stop_early.
    assert [t.shape[1] for t in model.forward_intermediates(
        x, indices=2, intermediates_only=True)] == [1024, 2048]
    last, taken = model.forward_intermediates(
        x, indices=[0, 2], stop_early=True)
    assert [t.shape[1] for t in taken] == [64, 512]
    assert torch.equal(last, taken[-1])


def fx_model(model, train=False):
    """timm's ``_create_fx_model``: the last node, traced with timm's
    leaf modules and functions."""
    from torchvision.models.feature_extraction import (
        create_feature_extractor, get_graph_node_names)
    tracer_kwargs = dict(
        leaf_modules=get_notrace_modules(),
        autowrap_functions=get_notrace_functions(),
        param_shapes_constant=True)
    train_nodes, eval_nodes = get_graph_node_names(
        model, tracer_kwargs=tracer_kwargs)
    return create_feature_extractor(
        model,
        train_return_nodes=[train_nodes[-1]],
        eval_return_nodes=[eval_nodes[-1]],
        tracer_kwargs=tracer_kwargs)


@pytest.mark.parametrize('model_name', CHECKED)
def test_model_forward_fx(model_name):
    """timm: a torch.fx trace gives the model's outputs exactly."""
    model = timm.create_model(model_name, pretrained=False).eval()
    with torch.inference_mode():
        inputs = torch.randn(1, *input_size(model, TARGET_FX_SIZE))
        outputs = model(inputs)
        fx_outputs = torch.cat(tuple(fx_model(model)(inputs).values()))
    assert torch.all(fx_outputs == outputs)


@pytest.mark.parametrize('model_name', CHECKED)
def test_model_backward_fx(model_name):
    """timm: the traced model in training mode gives every parameter a
    gradient."""
    model = timm.create_model(model_name, pretrained=False, num_classes=42)
    model.train()
    num_params = sum(x.numel() for x in model.parameters())
    model = fx_model(model, train=True)
    outputs = torch.cat(tuple(model(torch.randn(2, 3, 128, 128)).values()))
    outputs.mean().backward()
    for n, x in model.named_parameters():
        assert x.grad is not None, f'No gradient for {n}'
    assert outputs.shape[-1] == 42
    assert num_params == sum(x.grad.numel() for x in model.parameters())


def own_forward_levels(model, x):
    """The five levels as the model's own forward computes them (hooks on
    the stem and the stages while ``model(x)`` runs). The authors' model
    applies its stem's ReLU as a function: its level 0 is ReLU(bn1)."""
    levels = []
    stem = 'relu' if hasattr(model, 'relu') else 'bn1'
    hooks = [
        model.get_submodule(name).register_forward_hook(
            lambda m, i, o: levels.append(o.clone()))
        for name in (stem, 'layer1', 'layer2', 'layer3', 'layer4')
    ]
    model(x)
    for h in hooks:
        h.remove()
    if stem == 'bn1':
        levels[0] = levels[0].relu()
    return levels


@pytest.mark.parametrize('feature_cls',
                         ['list', 'dict', 'hook', 'getter', 'fx'])
def test_every_feature_wrapper_gives_the_models_own_values(feature_cls):
    """Each level equals the model's own forward at that point, whichever
    wrapper timm builds (timm's list wrapper replays the children in
    registration order: the stem's ReLU must be registered after its
    norm)."""
    torch.manual_seed(0)
    model = randomize_norms(timm.create_model('scalenet50')).eval()
    torch.manual_seed(0)
    features = timm.create_model(
        'scalenet50', features_only=True, feature_cls=feature_cls)
    randomize_norms(features).eval()
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        expected = own_forward_levels(model, x)
        got = features(x)
    got = list(got.values()) if isinstance(got, dict) else got
    assert len(got) == len(expected) == 5
    for level, (a, b) in enumerate(zip(got, expected)):
        assert torch.equal(a, b), (feature_cls, level)


@pytest.fixture(scope='module')
def authors_weights(tmp_path_factory):
    """The authors' ScaleNet-50 (their layout, random weights with
    non-trivial norms) and its conversion to safetensors."""
    tmp = tmp_path_factory.mktemp('timm')
    torch.manual_seed(0)
    official = randomize_norms(OfficialScaleNet('scalenet50'), seed=1).eval()
    torch.save(official.state_dict(), tmp / 'official.pth')
    out = run_main('tools/convert_official.py', str(tmp / 'official.pth'),
                   str(tmp / 'scalenet50.safetensors'), '--arch',
                   'scalenet50')
    assert out.returncode == 0, out.stderr[-2000:]
    return official, tmp / 'scalenet50.safetensors', out.stdout


def test_the_converter_prints_the_files_sha256(authors_weights):
    import hashlib
    _, path, stdout = authors_weights
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert stdout.splitlines()[-1] == f'{digest}  {path}'
    from safetensors import safe_open
    with safe_open(str(path), 'pt') as f:
        assert f.metadata()['arch'] == 'scalenet50'
        assert 'backbone.conv1.weight' in f.keys()
        assert 'head.fc.weight' in f.keys()


def test_timm_pretrained_gives_the_authors_logits_and_features(
        authors_weights):
    official, path, _ = authors_weights
    overlay = dict(file=str(path))
    model = timm.create_model(
        'scalenet50', pretrained=True,
        pretrained_cfg_overlay=overlay).eval()
    features = timm.create_model(
        'scalenet50',
        features_only=True,
        pretrained=True,
        pretrained_cfg_overlay=overlay).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), official(x), rtol=1e-4, atol=1e-4)
        expected = own_forward_levels(official, x)
        got = features(x)
    for a, b in zip(got, expected):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_mm_configs_load_the_safetensors_file(authors_weights):
    """mmpretrain's classifier (the model's init_cfg: logits) and a
    detector's backbone (prefix='backbone.') read the same file."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as CLS_MODELS
    official, path, _ = authors_weights
    cfg = Config.fromfile(f'{REPO}/configs/_base_/models/scalenet50.py')
    cfg.model.init_cfg = dict(type='Pretrained', checkpoint=str(path))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = CLS_MODELS.build(cfg.model)
    classifier.init_weights()
    backbone = MODELS.build(
        dict(
            type='mmscalenet.ScaleNet',
            depth=50,
            out_indices=(0, 1, 2, 3),
            init_cfg=dict(
                type='Pretrained', checkpoint=str(path),
                prefix='backbone.')))
    backbone.init_weights()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(
            classifier.eval()(x, mode='tensor'), official(x), rtol=1e-4,
            atol=1e-4)
        for a, b in zip(backbone.eval()(x), own_forward_levels(official,
                                                               x)[1:]):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_missing_weights_file_is_named_with_the_command_that_writes_it(
        tmp_path, monkeypatch):
    missing = tmp_path / 'nowhere.safetensors'
    with pytest.raises(FileNotFoundError) as e:
        timm.create_model('scalenet101', pretrained=True,
                          pretrained_cfg_overlay=dict(file=str(missing)))
    message = str(e.value)
    for part in (f'no weights file {missing}', 'tools/convert_official.py',
                 '--arch scalenet101', 'pretrained_cfg_overlay'):
        assert part in message, (part, message)


def test_in_chans_and_num_classes_adapt_the_pretrained_weights(
        authors_weights):
    """timm's own adaptation: one input channel sums conv1's filters over
    RGB; another class count keeps the backbone and drops the fc."""
    official, path, _ = authors_weights
    model = timm.create_model(
        'scalenet50', pretrained=True, in_chans=1, num_classes=10,
        pretrained_cfg_overlay=dict(file=str(path)))
    assert torch.allclose(model.conv1.weight,
                          official.conv1.weight.sum(1, keepdim=True))
    assert torch.equal(model.layer4[2].conv2.convs['1'].weight,
                       official.layer4[2].conv2['1'].weight)
    assert model.fc.out_features == 10


def test_layer_decay_gives_each_block_its_own_scale():
    """timm's optimizer factory groups by group_matcher: the stem, each of
    the 16 blocks, then the classifier, each a power of the decay."""
    from timm.optim import create_optimizer_v2
    model = timm.create_model('scalenet50', num_classes=10)
    optimizer = create_optimizer_v2(
        model, 'adamw', lr=1e-3, weight_decay=0.05, layer_decay=0.5)
    scales = sorted({g['lr_scale'] for g in optimizer.param_groups})
    assert scales == [0.5**i for i in range(17, -1, -1)]
    stem = next(g for g in optimizer.param_groups
                if any(p is model.conv1.weight for p in g['params']))
    assert stem['lr_scale'] == 0.5**17


@pytest.mark.slow
def test_the_timm_route_imports_no_other_openmmlab_library():
    out = run_python(
        '-c', 'import sys, timm, mmscalenet.timm\n'
        "timm.create_model('scalenet50', features_only=True)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'mmdet', 'mmpretrain', 'mmseg'}))")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == '[]'


@pytest.mark.slow
def test_the_fine_tuning_example_of_the_docs(authors_weights, tmp_path,
                                             monkeypatch, capsys):
    """docs/timm.md's digits example, as written, from the converted
    weights: it fine-tunes well above chance."""
    _, path, _ = authors_weights
    text = open(f'{REPO}/docs/timm.md').read()
    example = re.search(r'<!-- digits example -->\n```python\n(.*?)```',
                        text, re.S).group(1)
    (tmp_path / 'scalenet50_authors_in1k.safetensors').write_bytes(
        path.read_bytes())
    (tmp_path / 'example.py').write_text(example)
    # In process, in the folder the example names its weights file in (the
    # timm route's fresh interpreter is the test above).
    monkeypatch.chdir(tmp_path)
    runpy.run_path('example.py', run_name='__main__')
    printed = capsys.readouterr().out
    accuracy = float(
        re.search(r'top-1 on the held-out digits: ([\d.]+)',
                  printed).group(1))
    assert accuracy > 0.5, printed  # 0.737 on an EPYC; chance is 0.1


@pytest.mark.parametrize('output_stride', [16, 8])
def test_output_stride_gives_the_dilated_mm_backbone(output_stride):
    """timm's ``output_stride`` (DeepLab, smp) builds the package's dilated
    ScaleNet: the same features, with the same weights, as the backbone
    MMSegmentation builds (configs/_base_/models/scalenet50-d8.py at 8),
    and feature_info's reductions stop at the output stride."""
    from mmengine.config import Config
    features = randomize_norms(
        timm.create_model(
            'scalenet50', features_only=True,
            output_stride=output_stride)).eval()
    assert features.feature_info.reduction() == [
        min(r, output_stride) for r in (2, 4, 8, 16, 32)
    ]
    if output_stride == 8:
        cfg = Config.fromfile(
            f'{REPO}/configs/_base_/models/scalenet50-d8.py').scalenet_d8
        cfg.update(norm_cfg=dict(type='BN'), init_cfg=None)
    else:
        cfg = dict(type='mmscalenet.ScaleNet', depth=50,
                   strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2),
                   out_indices=(0, 1, 2, 3))
    backbone = MODELS.build(cfg).eval()
    backbone.load_state_dict(features.state_dict())
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        got = features(x)
        expected = backbone(x)
    assert [tuple(f.shape[-2:]) for f in got[1:]] == [
        (96 // r, 128 // r) for r in features.feature_info.reduction()[1:]
    ]
    for a, b in zip(got[1:], expected):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r'output_stride.* got 4'):
        timm.create_model('scalenet50', output_stride=4)


def test_the_getter_prunes_the_stages_and_head_it_does_not_need():
    torch.manual_seed(0)
    model = randomize_norms(timm.create_model('scalenet50')).eval()
    getter = timm.create_model('scalenet50', features_only=True,
                               feature_cls='getter', out_indices=(1, 2))
    names = {n.split('.')[1] for n, _ in getter.named_parameters()}
    assert names == {'conv1', 'bn1', 'layer1', 'layer2'}
    kept = getter.model.state_dict()
    getter.model.load_state_dict({k: model.state_dict()[k] for k in kept})
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = own_forward_levels(model, x)[1:3]
        got = getter.eval()(x)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


def test_the_weights_dir_is_read_when_a_model_is_created(
        tmp_path, monkeypatch):
    monkeypatch.setenv('MMSCALENET_WEIGHTS', str(tmp_path))
    with pytest.raises(FileNotFoundError,
                       match=re.escape(str(tmp_path / 'scalenet50_'))):
        timm.create_model('scalenet50', pretrained=True)


def test_bad_features_and_weights_files_are_refused_naming_them(tmp_path):
    with pytest.raises(ValueError, match=r'out_indices.*got \(1, 5\)'):
        timm.create_model('scalenet50', features_only=True,
                          out_indices=(1, 5))
    truncated = tmp_path / 'truncated.safetensors'
    truncated.write_bytes(b'\x08\x00\x00\x00\x00\x00\x00\x00{"a"')
    with pytest.raises(ValueError, match=re.escape(str(truncated))):
        timm.create_model('scalenet50', pretrained=True,
                          pretrained_cfg_overlay=dict(file=str(truncated)))


def test_the_converter_refuses_a_destination_below_a_file(
        authors_weights, tmp_path):
    _, path, _ = authors_weights
    (tmp_path / 'a_file').write_text('')
    dst = tmp_path / 'a_file' / 'scalenet50.safetensors'
    out = run_main('tools/convert_official.py',
                   str(path.parent / 'official.pth'), str(dst), '--arch',
                   'scalenet50')
    assert out.returncode != 0 and 'Traceback' not in out.stderr
    assert out.stderr.strip().startswith(f'convert_official: cannot write '
                                         f'{dst}')
