# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet's entries in mmpretrain's model index.

``model-index.yml`` (mim's) imports every ``configs/*/metafile.yml``: the
ImageNet ScaleNets (``configs/scalenet/metafile.yml``) and the detectors.
Registering the classification metafile with mmpretrain's ``ModelHub`` lets
``mmpretrain.list_models``, ``get_model``, ``inference_model`` and
``ImageClassificationInferencer`` find the ScaleNets by name. Importing
mmscalenet does it when mmpretrain is imported: at once if it already is,
else the moment ``mmpretrain.apis`` is
(:func:`register_model_index_on_import`), so that a job that never imports
mmpretrain (timm's route, mmdet's) does not import it either. The
detectors stay out of mmpretrain's hub, which could not build them.

The index is found where mim's layout puts it in an installed wheel
(``mmscalenet/.mim/model-index.yml``, configs beside it) or, for a checkout
(an editable install), at the repository root.

Example:
    >>> import mmscalenet
    >>> from mmpretrain import list_models
    >>> list_models('scalenet50_*')
    ['scalenet50_3rdparty_8xb32-coslr-120e_in1k']
"""
import importlib.abc
import importlib.util
import os.path as osp
import sys
from typing import Callable, List, Optional

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


class _CallAfterImport(importlib.abc.MetaPathFinder):
    """Runs ``callback`` once the module ``name`` has been executed (a
    one-shot finder: it removes itself when the module is found)."""

    def __init__(self, name: str, callback: Callable[[], object]):
        self.name = name
        self.callback = callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_call(module):
            exec_module(module)
            self.callback()

        spec.loader.exec_module = exec_then_call
        return spec


#: The module whose import triggers the registration.
MODEL_HUB_MODULE = 'mmpretrain.apis'


def register_model_index_on_import() -> None:
    """Register ScaleNet's models with mmpretrain's ``ModelHub`` now if
    ``mmpretrain.apis`` is imported, else when it is (without importing
    it here)."""
    if MODEL_HUB_MODULE in sys.modules:
        register_model_index()
    elif not any(
            isinstance(f, _CallAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(
            0, _CallAfterImport(MODEL_HUB_MODULE, register_model_index))
