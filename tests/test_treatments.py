"""The treatment catalogue: parsing, parameters, reversibility, strictness."""

from __future__ import annotations

from typing import Any

import pytest

from shimgen.check.plan import Rule
from shimgen.render.codegen import fstring
from shimgen.schema.model import Kind, SchemaNode
from shimgen.treatments import REGISTRY, Treatment, TreatmentError, parse_treatment


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("drop", "drop"),
        ("redact", "redact"),  # parameters at their defaults are not shown
        ({"redact": "n/a"}, "redact(text='n/a')"),
        ("hash", "hash"),
        ({"mask": {"keep_first": 0, "char": "*"}}, "mask"),
        ({"mask": {"keep_first": 2, "char": "#"}}, "mask(keep_first=2, char='#')"),
        ({"hash": {"length": 16}}, "hash(length=16)"),
        ({"mask": {"keep_last": 4}}, "mask(keep_last=4)"),
        ({"bucket": [0, 18, 65]}, "bucket(bounds=(0, 18, 65))"),
        ({"round": -2}, "round(digits=-2)"),
        ({"prefix": 3}, "prefix(length=3)"),
        ({"map": {"A": "active"}}, "map(A→active)"),
    ],
)
def test_parse(spec: Any, text: str) -> None:
    assert str(parse_treatment(spec)) == text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("mask_phone", "unknown treatment `mask_phone`"),
        ({"mask": {"keep_end": 4}}, "`mask` has no option `keep_end`"),
        ({"mask": {"char": "**"}}, "`mask.char` must be one character"),
        ({"hash": {"length": 4}}, "`hash.length` must be 8..64"),
        ({"bucket": [18, 0]}, "`bucket` needs a list of increasing numbers"),
        ({"bucket": [0, True]}, "`bucket` needs a list of increasing numbers"),
        ({"round": 1.5}, "`round.digits` must be an integer"),
        ("map", "`map` needs a parameter"),
        ({"map": {"A": None}}, "`map` values must be plain non-null values"),
        ({"drop": 1, "pass": 2}, "a treatment is a name or a one-key mapping"),
        ({"year": {"x": 1}}, "`year` has no option `x`"),
    ],
)
def test_bad_specs_explain_themselves(spec: Any, message: str) -> None:
    with pytest.raises(TreatmentError) as err:
        parse_treatment(spec)
    assert err.value.message == message
    assert err.value.hint


@pytest.mark.parametrize(
    ("spec", "guess"), [("tokenise", "tokenize"), ("mask-email", "mask_email"), ("nul", "null")]
)
def test_a_misspelt_treatment_is_named_in_the_hint(spec: str, guess: str) -> None:
    with pytest.raises(TreatmentError) as err:
        parse_treatment(spec)
    assert err.value.hint.startswith(f"did you mean `{guess}`? known treatments: pass, ")


def test_no_guess_for_a_treatment_nothing_resembles() -> None:
    with pytest.raises(TreatmentError) as err:
        parse_treatment("mask_phone")
    assert err.value.hint.startswith("known treatments: ")


def test_reversible_only_pass_tokenize_and_one_to_one_map() -> None:
    reversible = {
        name for name in REGISTRY if any(parse_treatment(s).reversible for s in _declared(name))
    }
    assert reversible == {"pass", "tokenize", "map"}
    assert not parse_treatment({"map": {"A": "x", "B": "x"}}).reversible


def _declared(name: str) -> list[Any]:
    """The specs a treatment declares for itself (its samples, which conformance runs end to
    end): which treatments take parameters, and what those are, is read from the catalogue."""
    samples = REGISTRY[name].samples
    assert samples, f"{name} declares no sample"
    return [sample.spec if sample.spec is not None else name for sample in samples]


def test_no_group_view_takes_the_strictest_treatment() -> None:
    node = SchemaNode(Kind.STRING)
    rule = Rule(
        "email",
        ("email",),
        ("email",),
        parse_treatment("mask_email"),
        {"support": parse_treatment("pass"), "audit": parse_treatment("hash")},
        False,
        None,
        "pii",
        node,
        node,
    )
    assert rule.treatment("support").name == "pass"
    assert rule.treatment("billing").name == "mask_email"
    assert rule.treatment(None).name == "hash"
    assert Treatment("drop").rank > Treatment("hash").rank > Treatment("pass").rank


@pytest.mark.parametrize(
    "template", ["{0} {1}", "{1}, {0}!", "{{literal}} {0}", "{0:>5}|{1!r}", "100% {0}\\n"]
)
def test_fstring_matches_str_format(template: str) -> None:
    a0, a1 = "Jana", "Novák"
    assert eval(fstring(template)) == template.format(a0, a1)
