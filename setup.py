# Copyright (c) mmscalenet contributors. All rights reserved.
"""mmscalenet: ScaleNet (CVPR 2019) for MMDetection and MMPretrain.

Loose ranges for users who bring their own torch; the exact pins of the
project's own environment live in requirements/ (see ``make setup``).

A wheel (``pip install .``, ``pip wheel .``) carries the configs, the tools
and the model index inside the package, in mim's layout
(``mmscalenet/.mim/{configs,tools,model-index.yml}``), so ``mim train
mmscalenet CONFIG`` and mmpretrain's ``get_model(NAME)`` work from any
directory; an editable install (``pip install -e .``) reads them from the
checkout.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

REPO = osp.dirname(osp.abspath(__file__))
#: What mim expects in ``<package>/.mim`` (as mmdet and mmpretrain ship it).
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_version():
    namespace = {}
    with open(osp.join(REPO, 'mmscalenet', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def add_mim_extension():
    """Copy the configs, tools and model index into ``mmscalenet/.mim`` when
    a wheel or an sdist is built (mmdet's ``add_mim_extension``, copy mode;
    an editable install needs no copy: the package finds the checkout)."""
    if not {'bdist_wheel', 'sdist'} & set(sys.argv):
        return
    mim_path = osp.join(REPO, 'mmscalenet', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(REPO, name), osp.join(mim_path, name)
        if osp.isdir(dst) and not osp.islink(dst):
            shutil.rmtree(dst)
        elif osp.lexists(dst):
            os.remove(dst)
        if osp.isdir(src):
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copyfile(src, dst)


add_mim_extension()
setup(
    name='mmscalenet',
    version=read_version(),
    description='ScaleNet (data-driven neuron allocation for scale '
    'aggregation networks) for the OpenMMLab stack',
    long_description=open(osp.join(REPO, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.8',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    package_data={
        'mmscalenet': [
            'structures/*.json', '.mim/model-index.yml', '.mim/configs/*/*.py',
            '.mim/configs/*/*.yml', '.mim/configs/*/*/*.py',
            '.mim/configs/*.py', '.mim/tools/*.py', '.mim/tools/*.sh'
        ]
    },
    install_requires=[
        # torch.compiler.is_compiling (2.3) falls back to
        # torch._dynamo.is_compiling (2.0); tests/test_metadata.py.
        'torch>=2.0',
        'mmengine>=0.10.0,<1.0.0',
        'mmcv>=2.0.0rc4,<2.2.0',
        # mmcv 2.1's compiled ops break on numpy 2.
        'numpy<2',
    ],
    extras_require={
        # import mmscalenet.timm (timm's create_model, features_only) and
        # safetensors checkpoints; feature_take_indices came in timm 1.0.3
        # (tested: requirements/timm.txt).
        'timm': ['timm>=1.0.3', 'safetensors>=0.4.0'],
        # tools/deploy.py and tools/benchmark.py --engines (tested:
        # requirements/deploy.txt).
        'deploy': ['onnx', 'onnxruntime', 'openvino'],
        # segmentation_models_pytorch's tu- encoders on the timm route
        # (encoder_name='tu-scalenet50'; tested: requirements/smp.txt).
        'smp': [
            'segmentation-models-pytorch>=0.6.0', 'timm>=1.0.3',
            'safetensors>=0.4.0'
        ],
        # mmengine finds mmdet:: / mmpretrain:: / mmseg:: config bases through
        # pkg_resources, which setuptools < 70 provides as tested here.
        'det': ['mmdet>=3.0.0,<4.0.0', 'pycocotools', 'setuptools<70'],
        'cls': ['mmpretrain>=1.0.0,<2.0.0', 'setuptools<70'],
        # mmseg 1.x imports ftfy and regex (its CLIP tokenizer) on import.
        'seg': [
            'mmsegmentation>=1.0.0,<2.0.0', 'ftfy', 'regex', 'setuptools<70'
        ],
        # The allocation plots (NeuronAllocationHook, tools/allocate.py,
        # the study's figures); without it the hook warns and skips them.
        'plot': ['matplotlib'],
        'mim': ['openmim'],
        'tests': ['pytest', 'pycocotools', 'scikit-learn', 'matplotlib'],
    },
    zip_safe=False)
