"""Archival metadata: the model (Circular 02/2019 + Party practice), extraction from page 1,
sequence numbers in record files, and the glue to the sealed PDF's XMP and sidecar."""

from firmware.metadata.extract import Extraction, extract_fields
from firmware.metadata.model import (
    ArchivalMetadata,
    FieldIssue,
    MetadataError,
    parse_date,
    validate_metadata,
)
from firmware.metadata.numbering import NumberSymbol, format_number_symbol, parse_number_symbol
from firmware.metadata.types import DEFAULT_DOCUMENT_TYPES, DocumentType, registry

__all__ = [
    "DEFAULT_DOCUMENT_TYPES",
    "ArchivalMetadata",
    "DocumentType",
    "Extraction",
    "FieldIssue",
    "MetadataError",
    "NumberSymbol",
    "extract_fields",
    "format_number_symbol",
    "parse_date",
    "parse_number_symbol",
    "registry",
    "validate_metadata",
]
