# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet's entries in mmpretrain's model index.

``model-index.yml`` (mim's) imports every ``configs/*/metafile.yml``: the
ImageNet ScaleNets (``configs/scalenet/metafile.yml``) and the detectors.
Registering the classification metafile with mmpretrain's ``ModelHub`` lets
``mmpretrain.list_models``, ``get_model``, ``inference_model`` and
``ImageClassificationInferencer`` find the ScaleNets by name; importing
mmscalenet does it when mmpretrain is installed. The detectors stay out of
mmpretrain's hub, which could not build them.

The index is found where mim's layout puts it in an installed wheel
(``mmscalenet/.mim/model-index.yml``, configs beside it) or, for a checkout
(an editable install), at the repository root.

Example:
    >>> import mmscalenet
    >>> from mmpretrain import list_models
    >>> list_models('scalenet50_*')
    ['scalenet50_3rdparty_8xb32-coslr-120e_in1k']
"""
import os.path as osp
from typing import List, Optional

PACKAGE_DIR = osp.dirname(osp.abspath(__file__))
#: The metafile of the ImageNet ScaleNets, beside ``model-index.yml``.
CLASSIFICATION_METAFILE = ('configs', 'scalenet', 'metafile.yml')


def model_index_path() -> Optional[str]:
    """The model index of this installation, or None without one: the
    checkout's (an editable install; a wheel build leaves a copy in
    ``.mim`` there, which must not shadow the files being edited), else the
    wheel's ``.mim`` copy."""
    checkout = osp.dirname(PACKAGE_DIR)
    if osp.isfile(osp.join(checkout, 'setup.py')) and osp.isfile(
            osp.join(checkout, 'model-index.yml')):
        return osp.join(checkout, 'model-index.yml')
    path = osp.join(PACKAGE_DIR, '.mim', 'model-index.yml')
    return path if osp.isfile(path) else None


def register_model_index() -> List[str]:
    """Register ScaleNet's models with mmpretrain's ``ModelHub``.

    Does nothing (and returns ``[]``) without mmpretrain or without a model
    index; registering twice adds nothing.

    Returns:
        list[str]: The names registered by this call.
    """
    try:
        from mmpretrain.apis import ModelHub
    except ImportError:
        return []
    index_path = model_index_path()
    if index_path is None:
        return []
    root = osp.dirname(index_path)
    path = osp.join(root, *CLASSIFICATION_METAFILE)
    from modelindex.load_model_index import load
    index = load(path)
    index.build_models_with_collections()
    names = [m.name.lower() for m in index.models]
    if all(ModelHub.has(name) for name in names):
        return []
    ModelHub.register_model_index(path, config_prefix=root)
    return names
