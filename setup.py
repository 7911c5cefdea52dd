# Copyright (c) mmscalenet contributors. All rights reserved.
"""mmscalenet: ScaleNet (CVPR 2019) for MMDetection and MMPretrain.

Loose ranges for users who bring their own torch; the exact pins of the
project's own environment live in requirements/ (see ``make setup``).
"""
import os.path as osp

from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open(osp.join('mmscalenet', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmscalenet',
    version=read_version(),
    description='ScaleNet (data-driven neuron allocation for scale '
    'aggregation networks) for the OpenMMLab stack',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.8',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    package_data={'mmscalenet': ['structures/*.json']},
    include_package_data=True,
    install_requires=[
        'torch>=1.13',
        'mmengine>=0.10.0,<1.0.0',
        'mmcv>=2.0.0rc4,<2.2.0',
        'numpy',
    ],
    extras_require={
        'det': ['mmdet>=3.0.0,<4.0.0', 'pycocotools'],
        'cls': ['mmpretrain>=1.0.0,<2.0.0'],
        'tests': ['pytest', 'pycocotools', 'scikit-learn', 'matplotlib'],
    },
    zip_safe=False)
