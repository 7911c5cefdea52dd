# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet's entries in mmpretrain's model index.

``model-index.yml`` lists the ImageNet ScaleNets (``configs/*/metafile.yml``)
in mmpretrain's format. Registering it with mmpretrain's ``ModelHub`` lets
``mmpretrain.list_models``, ``get_model``, ``inference_model`` and
``ImageClassificationInferencer`` find them by name; importing mmscalenet does
it when mmpretrain is installed.

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
    path = model_index_path()
    if path is None:
        return []
    from modelindex.load_model_index import load
    index = load(path)
    index.build_models_with_collections()
    names = [m.name.lower() for m in index.models]
    if all(ModelHub.has(name) for name in names):
        return []
    ModelHub.register_model_index(path, config_prefix=osp.dirname(path))
    return names
