"""Hand-written translator for the customer mapping, billing view (benchmark baseline).

What a careful engineer would write by hand for mappings/customer.shim.yaml, group
"billing", with the contract of the generated ``to_external(record, "billing")``:

* the same runtime treatments (keyset tokens, mask_email, mask, year, last4) and
  the same status map;
* a field that is missing or null is left out; a wrong value (a non-string for a
  string field, an unmapped status, a bad date) raises TranslationError with the
  JSON pointer of the field (never the value), the same pointer and message as the
  generated code, fields checked in the same order;
* the same output, key order included (so orjson bytes are identical).

Needs generated_examples/customer_shim on sys.path (bench/translate.py puts it there).
"""

from __future__ import annotations

from typing import Any

from customer_shim.runtime.core import keys
from customer_shim.runtime.core import transforms as t
from customer_shim.runtime.core.errors import Problem, TranslationError

STATUS = {"A": "active", "S": "suspended", "X": "closed"}
# Every mapped field is a string in the internal schema; anything else is refused
# before a treatment sees it.
NOT_STR = "unexpected type or value"


def _fail(pointer: str, why: object) -> TranslationError:
    return TranslationError([Problem(pointer, str(why))])


def _payment_methods(cards: Any) -> list[dict[str, str]]:
    if type(cards) is not list:
        raise _fail("/cards", "expected an array")
    methods = []
    for i, card in enumerate(cards):
        if type(card) is not dict:
            raise _fail(f"/cards/{i}", "expected an object")
        number = card.get("number")
        if number is None:
            methods.append({})
            continue
        if type(number) is not str:
            raise _fail(f"/cards/{i}/number", NOT_STR)
        try:
            methods.append({"last4": t.last4(number)})
        except (ValueError, TypeError) as exc:
            raise _fail(f"/cards/{i}/number", exc) from None
    return methods


def to_billing(record: Any) -> dict[str, Any]:
    """Internal customer record -> what the billing group may see."""
    if type(record) is not dict:
        raise _fail("/", "expected an object")
    ks = keys.current()
    name = record.get("name")
    if name is None:
        name = {}
    elif type(name) is not dict:
        raise _fail("/name", "expected an object")

    out: dict[str, Any] = {}
    contact: dict[str, str] = {}
    where = "/id"  # the field being translated, for the error pointer
    try:
        if (v := record.get("id")) is not None:
            if type(v) is not str:
                raise TypeError(NOT_STR)
            out["customerId"] = ks.tokenize(v, "customer:id")
        where = "/email"
        if (v := record.get("email")) is not None:
            if type(v) is not str:
                raise TypeError(NOT_STR)
            contact["email"] = t.mask_email(v)
        where = "/phone"
        if (v := record.get("phone")) is not None:
            if type(v) is not str:
                raise TypeError(NOT_STR)
            contact["phone"] = t.mask(v, 0, 4, "*")
        where = "/name/given"
        if (given := name.get("given")) is not None:
            if type(given) is not str:
                raise TypeError(NOT_STR)
            out["firstName"] = given
        where = "/name/family"
        if (family := name.get("family")) is not None:
            if type(family) is not str:
                raise TypeError(NOT_STR)
            out["lastName"] = family
        where = "/birth_date"
        if (v := record.get("birth_date")) is not None:
            if type(v) is not str:
                raise TypeError(NOT_STR)
            out["birthYear"] = t.year(v)
        where = "/status"
        if (v := record.get("status")) is not None:
            if (status := STATUS.get(v)) is None:
                raise ValueError("not one of the mapped values")
            out["status"] = status
    except (ValueError, TypeError) as exc:
        raise _fail(where, exc) from None

    if given is not None and family is not None:
        out["displayName"] = f"{given} {family}"
    out["region"] = "eu"
    if (cards := record.get("cards")) is not None:
        out["paymentMethods"] = _payment_methods(cards)
    if contact:
        out["contact"] = contact
    return out
