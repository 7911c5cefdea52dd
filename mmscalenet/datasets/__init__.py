# Copyright (c) mmscalenet contributors. All rights reserved.
"""Datasets (mmpretrain-based). Configs that use them import this module:
``custom_imports=dict(imports=['mmscalenet', 'mmscalenet.datasets'])``."""
from .digits import DigitsDataset

__all__ = ['DigitsDataset']
