# Copyright (c) mmscalenet contributors. All rights reserved.
"""The published ScaleNets, in one table (as timm's ``default_cfgs``).

Every place that needs a published variant's depth, structure or size reads
it here: the checkpoint converter, the model-index names, the tests (which
are parametrised over :data:`PUBLISHED_VARIANTS`).

MACs (multiply-accumulates of the convs and the fc layer, 224x224, 1000
classes) and parameters are exact integers. Their source: the paper gives
3.8, 7.5 and 11.2 GFLOPs for ScaleNet-50/101/152 and a 29% saving of
ScaleNet-50-light against ResNet-50 (section 4.1, Table 3); the authors'
released model (restated layer by layer in
``mmscalenet/analysis/official_scalenet.py``, with their structure files in
``mmscalenet/structures/``) has exactly these
counts, and so has this package's model (``tests/test_models/
test_scalenet.py`` measures all three). ``tools/get_flops.py CONFIG`` prints
them rounded.

Example:
    >>> from mmscalenet.models.variants import PUBLISHED_VARIANTS
    >>> v = PUBLISHED_VARIANTS['scalenet101']
    >>> v.depth, v.macs, v.params
    (101, 7511097600, 54792390)
"""
from dataclasses import dataclass
from typing import Dict


@dataclass(frozen=True)
class ScaleNetVariant:
    """One published ScaleNet.

    Attributes:
        name (str): The structure's name (``mmscalenet/structures/``), which
            the converter's ``--arch`` takes.
        depth (int): Depth of the ResNet it starts from.
        macs (int): MACs of the classifier at 224x224.
        params (int): Parameters of the classifier (1000 classes).
        resnet_macs (int): MACs of the ResNet of the same depth (mmpretrain's
            ``ResNet``, the same classifier), for the savings the paper
            reports.
        model_index_name (str): Its name in the model index
            (``mmpretrain.get_model``).
    """
    name: str
    depth: int
    macs: int
    params: int
    resnet_macs: int
    model_index_name: str


def _variant(name, depth, macs, params, resnet_macs):
    config_stem = name.replace('_', '-')
    return ScaleNetVariant(name, depth, macs, params, resnet_macs,
                           f'{config_stem}_3rdparty_8xb32-coslr-120e_in1k')


#: The authors' four released ScaleNets, by structure name.
PUBLISHED_VARIANTS: Dict[str, ScaleNetVariant] = {
    v.name: v
    for v in (
        _variant('scalenet50', 50, 3818372352, 31483618, 4089184256),
        _variant('scalenet50_light', 50, 2861475840, 23631912, 4089184256),
        _variant('scalenet101', 101, 7511097600, 54792390, 7801405440),
        _variant('scalenet152', 152, 11211951616, 77220070, 11513626624),
    )
}
