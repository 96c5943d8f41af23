"""JSON Schemas of the YAML files, generated from the pydantic models (``hpo schema``).

Editors with a YAML language server validate and complete a file whose first line is
``# yaml-language-server: $schema=<path to schema>``; the shipped files point at ``schemas/``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from admet_hpo.config.search_space import SearchSpaceFile
from admet_hpo.config.study import StudyConfig
from admet_hpo.config.training import TrainingConfig
from admet_hpo.errors import ConfigError

#: schema file stem -> model; files are written as ``<stem>.schema.json``
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "training_config": TrainingConfig,
    "study": StudyConfig,
    "search_space": SearchSpaceFile,
}
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def generate_schemas() -> dict[str, str]:
    """File name -> JSON text (stable: same models, same text) for every schema."""
    texts = {}
    for stem, model in SCHEMA_MODELS.items():
        schema: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT}
        schema.update(model.model_json_schema(mode="validation"))
        texts[f"{stem}.schema.json"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return texts


def write_schema_files(directory: Path, texts: Mapping[str, str]) -> list[Path]:
    """Write ``texts`` (file name -> JSON text, e.g. :func:`generate_schemas`) into ``directory`` (created
    if needed); returns the written paths.

    ``directory`` being a file is a :class:`ConfigError`; other failures are the ``OSError`` naming the
    path (the CLI prints it as one line)."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(
            f"{directory}: exists and is not a folder; expected a folder for the .schema.json files"
        )
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
