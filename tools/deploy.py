# Copyright (c) mmscalenet contributors. All rights reserved.
"""Export a ScaleNet to ONNX and OpenVINO IR and check both against PyTorch.

As mmdeploy's ``tools/deploy.py``: build the model of an MM config, load
its checkpoint, fold its norms into its convs (``switch_to_deploy()``),
export it to ONNX (opset 17, the tracing exporter) at ``--batch`` x 3 x
``--shape``, convert that to OpenVINO IR, and run each file on a second
input against PyTorch, printing the largest difference. What is exported: an
MMPretrain classifier whole (images to logits), and from an MMDetection or
MMSegmentation config its backbone (images to the feature maps the neck
takes); ``--part backbone`` exports a classifier's backbone too. The
input is the normalized image, as in mmdeploy (the data preprocessor's
mean and std are not in the graph). The shape is static: the SA blocks
choose their pooling and upsampling from the map size in Python, so the
traced graph holds for the traced size only.

Files are written only when every check passed; the tool then prints each
file's SHA-256 in ``sha256sum``'s format. A config without a ScaleNet, a
missing checkpoint, an output folder that cannot be written or an engine
that is not installed end it in one line, before anything is written.

Example:
    python tools/deploy.py configs/_base_/models/scalenet50.py \\
        work_dirs/deploy --checkpoint scalenet50_8xb32_in1k.pth
    python tools/deploy.py configs/faster_rcnn_scalenet101_coco.py \\
        work_dirs/deploy --checkpoint det.pth --shape 800 1216
"""
import argparse
import importlib.util
import os
import os.path as osp
import shutil
import sys
import tempfile
import warnings
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint

import mmscalenet  # noqa: F401  (registers ScaleNet)
from mmscalenet import ScaleNet
from mmscalenet.allocation.writer import check_out_dir
from mmscalenet.apis import add_cfg_options, config_scope, load_config
from mmscalenet.fileio import sha256_of

#: The engines each export is checked in (each its package's name).
BACKENDS = ('onnxruntime', 'openvino')
#: The largest difference to PyTorch accepted, relative to its largest
#: output (fp32 kernels reorder sums; a wrong graph is off by far more).
TOLERANCE = 1e-4


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='an MM config with a ScaleNet')
    parser.add_argument('out_dir', help='where the files are written')
    parser.add_argument('--checkpoint', help='the weights (default: the '
                        'initialization, to check a pipeline)')
    parser.add_argument(
        '--part',
        choices=['auto', 'model', 'backbone'],
        default='auto',
        help='the whole classifier or the backbone (auto: the classifier '
        'of an mmpretrain config, the backbone of an mmdet or mmseg one)')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224],
                        metavar=('H', 'W'), help='the input size')
    parser.add_argument('--batch', type=int, default=1,
                        help='the batch size of the graph')
    parser.add_argument(
        '--backend',
        nargs='+',
        choices=BACKENDS,
        default=list(BACKENDS),
        help='the engines to export to and check in (ONNX is written for '
        'both)')
    add_cfg_options(parser)
    return parser.parse_args(argv)


class Logits(nn.Module):
    """An MMPretrain classifier as images -> logits."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(image, mode='tensor')


def build(args: argparse.Namespace) -> Tuple[nn.Module, List[str], str]:
    """The module to export (norms folded), its output names, and the
    stem of the files."""
    cfg = load_config(args.config, args.cfg_options)
    scope = config_scope(cfg)
    init_default_scope(scope)
    model = MODELS.build(cfg.model)
    scalenets = [m for m in model.modules() if isinstance(m, ScaleNet)]
    if not scalenets:
        raise ValueError(f'{args.config} builds no ScaleNet (its backbone '
                         f'is {type(model.backbone).__name__}); give a '
                         f'config whose model.backbone is a ScaleNet')
    if args.checkpoint:
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(f'checkpoint not found: '
                                    f'{args.checkpoint}')
        load_checkpoint(model, args.checkpoint, map_location='cpu',
                        strict=True, logger='silent')
    model.eval()
    scalenets[0].switch_to_deploy()
    part = args.part
    if part == 'auto':
        part = 'model' if scope == 'mmpretrain' else 'backbone'
    stem = osp.splitext(osp.basename(args.config))[0]
    if part == 'model':
        if scope != 'mmpretrain':
            raise ValueError(f'--part model exports an mmpretrain '
                             f'classifier; {args.config} is an {scope} '
                             f'config: use --part backbone')
        return Logits(model), ['logits'], stem
    outputs = [f'feat{i}' for i in scalenets[0].out_indices]
    return scalenets[0], outputs, f'{stem}_backbone'


def largest_difference(got: Sequence,
                       expected: Sequence) -> Tuple[float, float]:
    """The largest absolute difference over the outputs, and relative to
    the largest absolute expected value."""
    diff = max((torch.as_tensor(g) - e).abs().max().item()
               for g, e in zip(got, expected))
    scale = max(e.abs().max().item() for e in expected)
    return diff, diff / max(scale, 1e-12)


def export_and_check(module: nn.Module, outputs: List[str], stem: str,
                     shape: Sequence[int], backends: Sequence[str],
                     folder: str) -> List[str]:
    """Write ``stem``.onnx (and .xml/.bin for OpenVINO) into ``folder``,
    check each in its engine, print the differences; return the files."""
    # The SA blocks' size arithmetic is traced as constants, as intended:
    # the graph is for this shape (the module's docstring).
    warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
    torch.manual_seed(0)
    n, h, w = shape
    onnx_path = osp.join(folder, f'{stem}.onnx')
    with torch.no_grad():
        torch.onnx.export(
            module, (torch.randn(n, 3, h, w), ),
            onnx_path,
            opset_version=17,
            dynamo=False,
            input_names=['image'],
            output_names=outputs)
        x = torch.randn(n, 3, h, w)  # another input than the traced one
        expected = module(x)
    expected = [expected] if torch.is_tensor(expected) else list(expected)
    files = [onnx_path]
    results = {}
    if 'onnxruntime' in backends:
        import onnxruntime as ort
        session = ort.InferenceSession(onnx_path,
                                       providers=['CPUExecutionProvider'])
        results['onnxruntime'] = session.run(None, {'image': x.numpy()})
    if 'openvino' in backends:
        import openvino as ov
        xml = osp.join(folder, f'{stem}.xml')
        ov.save_model(ov.convert_model(onnx_path), xml,
                      compress_to_fp16=False)
        compiled = ov.Core().compile_model(
            xml, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
        result = compiled(x.numpy())
        results['openvino'] = [result[i] for i in range(len(outputs))]
        files += [xml, osp.splitext(xml)[0] + '.bin']
    for backend, got in results.items():
        diff, relative = largest_difference(got, expected)
        print(f'{backend}: largest difference to PyTorch {diff:.2e} '
              f'({relative:.2e} of the largest output), batch {n}, '
              f'{h}x{w}, f32')
        if relative > TOLERANCE:
            raise ValueError(f'{backend} differs from PyTorch by {diff:.2e} '
                             f'({relative:.2e} relative, more than '
                             f'{TOLERANCE}); nothing was written')
    return files


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        missing = [
            backend for backend in args.backend
            if importlib.util.find_spec(backend) is None
        ]
        if missing:
            raise ImportError(f'not installed: {", ".join(missing)} (pip '
                              f'install -r requirements/deploy.txt)')
        if min(args.shape) < 32 or args.batch < 1:
            raise ValueError(f'--shape must be at least 32 x 32 and --batch '
                             f'at least 1, got {args.shape} and '
                             f'{args.batch}')
        check_out_dir(args.out_dir, 'the exported files')
        module, outputs, stem = build(args)
        os.makedirs(args.out_dir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix='.deploy-', dir=args.out_dir)
        try:
            files = export_and_check(module, outputs, stem,
                                     (args.batch, *args.shape),
                                     args.backend, staging)
            written = []
            for path in files:
                target = osp.join(args.out_dir, osp.basename(path))
                os.replace(path, target)
                written.append(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except (ValueError, OSError, ImportError) as e:
        sys.exit(f'deploy: {e}')
    for path in written:
        print(f'{sha256_of(path)}  {path}')


if __name__ == '__main__':
    main()
