"""The models: one class per table, each declaring its columns and indexes once."""

from .base import BaseModel
from .fields import Column, IndexSpec, ModelDefinitionError
from .file import FILE_TYPES, File
from .job import ACTIVE_STATUSES, PLATFORMS, STATUSES, Job
from .settings import Settings
from .subscription import Subscription

ALL_MODELS: tuple[type[BaseModel], ...] = (Job, File, Settings, Subscription)

__all__ = [
    "ACTIVE_STATUSES",
    "ALL_MODELS",
    "FILE_TYPES",
    "PLATFORMS",
    "STATUSES",
    "BaseModel",
    "Column",
    "File",
    "IndexSpec",
    "Job",
    "ModelDefinitionError",
    "Settings",
    "Subscription",
]
