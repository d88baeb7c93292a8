"""Pydantic models of both schemas, through datamodel-code-generator: typed records for users.

The generated service does not use them: it validates requests against its
openapi.json with jsonschema-rs (one contract, compiled once; pydantic would be a
second validation of the same schemas on every request). They are for the code
that calls the translator: ``external_models.ROOT_MODEL.model_validate(
to_external(record, group))`` gives a typed, validated external record (and
``internal_models`` the same for ``to_internal``). ``ROOT_MODEL`` names the class
of the model the mapping names, whatever datamodel-code-generator called it;
tests/test_render_models.py holds every reviewed output of the examples to it.

datamodel-code-generator is given the model's ``$ref`` closure
as one document with Python-safe names (``shimgen.schema.closure``), not the
whole schema file: it models only what the shim handles (much less work on
large files), and dotted component names cannot turn its output into a
package of modules. Output is made deterministic: no timestamp, a fixed
header naming the schema by its project-relative path. Formatting is ``ruff format``
at black's default line length (``shimgen.render.formatting``): byte-identical to
the black pass datamodel-code-generator would run, in a fraction of the time
(black was half of the 7.6 s this step took on FHIR Patient).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

from shimgen.render.formatting import fmt
from shimgen.schema.closure import model_closure


class ModelsError(Exception):
    """datamodel-code-generator refused a schema that shimgen's checks accept.

    The schema is valid, but Python classes cannot express it (``allOf`` that
    loops back through the root: a class that inherits from itself). The user
    can do something about it (change the schema), so it is reported as input
    that cannot be used (exit 2), naming the schema and what the tool said.
    """

    def __init__(self, shown_as: str, message: str) -> None:
        super().__init__(
            f"{shown_as}: datamodel-code-generator cannot model this schema: {message}"
        )


def pydantic_models(schema: Path, model: str, shown_as: str) -> str:
    """Python source of pydantic v2 models for ``model`` in ``schema`` and what it references."""
    from datamodel_code_generator import Error, generate

    document, openapi = model_closure(schema, model or None)
    with warnings.catch_warnings():  # deprecation notices about its own future defaults
        warnings.simplefilter("ignore", FutureWarning)
        try:
            result = _run(generate, document, openapi, schema, shown_as)
        except Error as exc:
            raise ModelsError(shown_as, str(exc)) from None
    if not isinstance(result, str):  # safe names give one module; anything else is our bug
        raise RuntimeError(f"datamodel-code-generator wrote several modules for {shown_as}")
    source = result.rstrip("\n") + "\n\n" + _root_alias(result, document, openapi, shown_as)
    return fmt(source, line_length=88).removesuffix("\n")


ROOT_ALIAS = "ROOT_MODEL"


def _root_alias(source: str, document: Any, openapi: bool, shown_as: str) -> str:
    """``ROOT_MODEL = <class of the mapping's model>``: one name for the record's type.

    The root is the closure's first component (OpenAPI) or the document itself, named by its
    title or ``Model`` (JSON Schema). Its class is datamodel-code-generator's rendering of
    that name, which its resolver predicts; where the generator's own renaming differs (a
    reserved word gets a digit, ``None1``; a dotted title loses its dots), the one class whose
    name is the same letters and digits (a trailing counter aside) is it. No such class, or
    several, is a schema this cannot type: a finding (exit 2), never a wrong alias.
    """
    from datamodel_code_generator.reference import ModelResolver

    if openapi:
        name = next(iter(document["components"]["schemas"]))
    else:
        title = document.get("title") if isinstance(document, dict) else None
        name = title if isinstance(title, str) and title else "Model"
    classes = re.findall(r"^class (\w+)\b", source, re.M)
    if ROOT_ALIAS in classes or re.search(rf"^{ROOT_ALIAS}\b", source, re.M):
        raise ModelsError(shown_as, f"the schema defines {ROOT_ALIAS} itself")
    predicted = ModelResolver().get_class_name(name, unique=False).name
    found = [predicted] if predicted in classes else [c for c in classes if _same(c, name)]
    if len(found) != 1:
        raise ModelsError(shown_as, f"no class of its own for the root model {name!r}")
    return f"# The mapping's model: the type of a whole record.\n{ROOT_ALIAS} = {found[0]}\n"


def _same(cls: str, name: str) -> bool:
    """``None1`` / ``None``, ``AB`` / ``a.b``: the same letters and digits, a counter aside."""
    letters = re.sub(r"[^a-z0-9]", "", name.lower())
    return re.sub(r"[^a-z0-9]", "", cls.lower()).rstrip("0123456789") == letters.rstrip(
        "0123456789"
    )


def _run(generate: Any, document: Any, openapi: bool, schema: Path, shown_as: str) -> Any:
    from datamodel_code_generator.enums import DataModelType, InputFileType
    from datamodel_code_generator.format import PythonVersion

    return generate(
        json.dumps(document),
        input_file_type=InputFileType.OpenAPI if openapi else InputFileType.JsonSchema,
        input_filename=schema.name,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_311,
        disable_timestamp=True,
        custom_file_header=f"# Generated by shimgen (datamodel-code-generator) from {shown_as}. Do not edit.",
        use_schema_description=True,
        use_field_description=True,
        use_standard_collections=True,
        use_union_operator=True,
        use_double_quotes=True,
        field_constraints=True,
        formatters=[],  # formatted below, as black would (88 columns, no final newline)
    )
