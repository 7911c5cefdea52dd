# Copyright (c) mmscalenet contributors. All rights reserved.
"""Datasets (mmpretrain-based: import this module from configs that use
them, ``custom_imports=dict(imports=['mmscalenet', 'mmscalenet.datasets'])``)."""
from .digits import DigitsDataset

__all__ = ['DigitsDataset']
