"""Benchmark the generated customer translator (group "billing") against alternatives.

Run from the repo root: ``python bench/translate.py [--records N] [--skip-memory]``.

Throughput, best of 5, over N deterministic records held as NDJSON bytes in memory:
floor (orjson only), hand-written (bench/handwritten_customer.py), generated
(generated_examples/customer_shim) and glom. All translators are first checked to
give byte-identical output on every record and the same handling of nulls and
wrongly typed fields. Memory: peak RSS of ``shimgen translate`` on ~50 MB and
~200 MB of NDJSON; streaming means the two peaks should be close.
"""

from __future__ import annotations

import argparse
import copy
import gc
import random
import subprocess
import sys
import tempfile
import time
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import orjson
from glom import SKIP, Coalesce, GlomError, Iter, glom

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "generated_examples" / "customer_shim"))

from customer_shim.runtime.core import keys  # noqa: E402
from customer_shim.runtime.core import support as _s  # noqa: E402
from customer_shim.runtime.core import transforms as t  # noqa: E402
from customer_shim.runtime.core.errors import TranslationError  # noqa: E402
from customer_shim.translate import MAP, to_external  # noqa: E402
from handwritten_customer import to_billing  # noqa: E402

GIVEN = ["Jana", "Marcus", "Lucía", "Ahmed", "Sophie", "Wei", "Olga", "Kwame", "Aiko", "Léa"]
FAMILY = ["Novák", "Oyelaran", "Fernández García", "Karimi", "Martin", "Chen", "Ivanova", "Mensah"]
DOMAINS = ["example.com", "example.org", "example.net", "example.fr"]


def make_records(n: int) -> list[dict[str, Any]]:
    """Records shaped like mappings/samples/customer.internal.ndjson; optional fields vary."""
    rng = random.Random(42)
    digits = lambda k: "".join(rng.choice("0123456789") for _ in range(k))  # noqa: E731
    out = []
    for _ in range(n):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        local = unicodedata.normalize("NFKD", f"{given}.{family}").encode("ascii", "ignore")
        r: dict[str, Any] = {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
        r["email"] = (
            f"{local.decode().lower().replace(' ', '')}{rng.randrange(100)}@{rng.choice(DOMAINS)}"
        )
        if rng.random() < 0.75:
            r["phone"] = (
                "+" + rng.choice(["420", "34", "49", "1", "33"]) + digits(rng.randint(8, 10))
            )
        if rng.random() < 0.2:
            r["ssn"] = f"{digits(3)}-{digits(2)}-{digits(4)}"
        r["name"] = {"given": given, "family": family}
        if rng.random() < 0.85:
            r["birth_date"] = (
                f"{rng.randint(1940, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            )
        r["cards"] = [
            {
                "number": rng.choice("3456") + digits(rng.choice((14, 15))),
                "cvv": digits(rng.choice((3, 4))),
            }
            for _ in range(rng.randint(0, 3))
        ]
        r["status"] = rng.choices("ASX", (80, 15, 5))[0]
        if rng.random() < 0.9:
            r["risk_score"] = round(rng.random(), 2) if rng.random() < 0.9 else None
        out.append(r)
    return out


# --- glom: the same mapping as a glom spec -----------------------------------------------


class _Null(GlomError):
    """A null value: Coalesce below leaves the key out, as for a missing one."""


def _present(v: Any) -> Any:
    if v is None:
        raise _Null()
    return v


def _need(kind: type, what: str) -> Any:
    def check(v: Any) -> Any:
        if type(v) is not kind:
            raise TypeError(what)
        return v

    return check


_str = _need(str, "unexpected type or value")


def _opt(path: str, *steps: Any) -> Any:
    """``path`` through ``steps``; key left out if missing or null (SKIP mid-tuple is a no-op)."""
    return Coalesce((path, _present, *steps), default=SKIP)


def _name_is_object(r: dict[str, Any]) -> dict[str, Any]:
    if r.get("name") is not None and type(r["name"]) is not dict:
        raise TypeError("expected an object")
    return r


def _display(n: dict[str, Any]) -> str:
    if n.get("given") is None or n.get("family") is None:
        raise _Null()
    return f"{n['given']} {n['family']}"


# Differences from the generated code, none visible in output: glom evaluates "contact"
# last (so with several bad fields the first error may name another field), and its
# errors are glom-wrapped ValueError/TypeError without JSON pointers.
GLOM_SPEC = (
    _name_is_object,
    {
        "customerId": _opt("id", _str, lambda v: keys.current().tokenize(v, "customer:id")),
        "firstName": _opt("name.given", _str),
        "lastName": _opt("name.family", _str),
        "birthYear": _opt("birth_date", _str, t.year),
        "status": _opt("status", lambda v: _s.lookup(MAP, v)),
        "displayName": _opt("name", _display),
        "region": lambda _: "eu",
        "paymentMethods": _opt(
            "cards",
            _need(list, "expected an array"),
            Iter(
                (_need(dict, "expected an object"), {"last4": _opt("number", _str, t.last4)})
            ).all(),
        ),
        "contact": Coalesce(
            (
                {
                    "email": _opt("email", _str, t.mask_email),
                    "phone": _opt("phone", _str, lambda v: t.mask(v, 0, 4, "*")),
                },
                lambda d: d or _present(None),
            ),
            default=SKIP,
        ),
    },
)

CONTENDERS = {
    "floor (orjson only)": lambda r: r,
    "hand-written": to_billing,
    "generated": lambda r: to_external(r, "billing"),
    "glom": lambda r: glom(r, GLOM_SPEC),
}


def check_equivalence(lines: list[bytes]) -> None:
    """Same bytes on every record; same handling of nulls and of wrongly typed fields."""
    for line in lines:
        want = orjson.dumps(to_external(orjson.loads(line), "billing"))
        assert orjson.dumps(to_billing(orjson.loads(line))) == want, line
        assert orjson.dumps(glom(orjson.loads(line), GLOM_SPEC)) == want, line
    base = orjson.loads(lines[0])
    base["cards"] = [{"number": "4111111111111111", "cvv": "123"}] * 2
    nulls = [{"email": None, "phone": None}, {"name": None}, {"name": {"given": None}},
             {"cards": None, "status": None}, {"cards": [{"cvv": "1"}, {"number": None}]},
             {"id": None, "birth_date": None}, {"email": None, "phone": None, "cards": []}]  # fmt: skip
    bad = [{"email": 5}, {"phone": ["x"]}, {"name": "Jana"}, {"name": {"given": 7}},
           {"name": {"family": {"x": 1}}}, {"birth_date": "1990-02-30"}, {"birth_date": 1990},
           {"status": "Q"}, {"status": ["A"]}, {"cards": "x"}, {"cards": [[1]]},
           {"cards": [{"number": 4.5}]}, {"cards": [{"number": 4111}]}, {"id": True}, {"id": 7}]  # fmt: skip
    for change in nulls + bad:
        rec = {**base, **change}
        results = []
        for fn in (lambda r: to_external(r, "billing"), to_billing, lambda r: glom(r, GLOM_SPEC)):
            try:
                results.append(orjson.dumps(fn(copy.deepcopy(rec))))
            except TranslationError as exc:
                results.append([(p.pointer, p.message) for p in exc.problems])
            except (ValueError, TypeError):  # glom: wrapped error, no pointer
                results.append("error")
        assert isinstance(results[0], bytes) == (change in nulls), (change, results)
        assert results[0] == results[1], (change, results)
        assert results[2] == (results[0] if change in nulls else "error"), (change, results)


def best_time(fn: Any, lines: list[bytes], repeats: int = 5) -> float:
    loads, dumps = orjson.loads, orjson.dumps
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        gc.disable()  # like timeit: no collector pauses inside a measurement
        start = time.perf_counter()
        out = [dumps(fn(loads(line))) for line in lines]
        best = min(best, time.perf_counter() - start)
        gc.enable()
        del out
    return best


# Peak RSS of one command, measured in a fresh, small Python wrapper: RUSAGE_CHILDREN's
# ru_maxrss is the maximum over every child a process has waited for, so reading it in
# this (large, long-lived) process would mix runs together. In the wrapper, shimgen is
# the only child; the only other contribution is the pre-exec copy of the wrapper itself
# (Linux folds it into the child's maximum), which is far below shimgen's own peak.
_WRAPPER = (
    "import resource, subprocess, sys; "
    "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss_mb(cmd: list[str]) -> float:
    res = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, check=True
    )
    rc, maxrss = map(int, res.stdout.split())
    assert rc == 0, f"{cmd} exited with {rc}"
    return maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes vs KiB


def memory(blob: bytes) -> None:
    shimgen = Path(sys.executable).with_name("shimgen")
    mapping = ROOT / "mappings" / "customer.shim.yaml"
    peaks = []
    with tempfile.TemporaryDirectory(prefix="shimgen-bench-") as tmp:
        for mb in (50, 200):
            path = Path(tmp) / f"customers-{mb}mb.ndjson"
            with path.open("wb") as fh:
                for _ in range(-(-mb * 1_000_000 // len(blob))):
                    fh.write(blob)
            start = time.perf_counter()
            peak = peak_rss_mb(
                [
                    str(shimgen),
                    "translate",
                    str(mapping),
                    str(path),
                    "--group",
                    "billing",
                    "--dev-keys",
                ]
            )
            took = time.perf_counter() - start
            print(
                f"shimgen translate, {path.stat().st_size / 1e6:6.1f} MB input: peak RSS {peak:6.1f} MB ({took:.1f} s)"
            )
            path.unlink()
            peaks.append(peak)
    diff = peaks[1] - peaks[0]
    print(f"peak RSS difference: {diff:.1f} MB (target <= 20) {'PASS' if diff <= 20 else 'FAIL'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--records", type=int, default=20000, help="records to translate (default 20000)"
    )
    ap.add_argument("--skip-memory", action="store_true", help="skip the peak RSS measurement")
    args = ap.parse_args()

    keys.install(keys.Keyset.generate("k1"))
    records = make_records(args.records)
    blob = b"".join(orjson.dumps(r) + b"\n" for r in records)
    lines = blob.splitlines()
    check_equivalence(lines)
    print(f"{len(lines)} records, {len(blob) / 1e6:.1f} MB NDJSON, group billing, best of 5; "
          "all translators give identical output")  # fmt: skip

    times = {name: best_time(fn, lines) for name, fn in CONTENDERS.items()}
    gen = times["generated"]
    print(f"{'contender':<22}{'records/s':>12}{'seconds':>10}{'x generated':>13}")
    for name, secs in times.items():
        print(f"{name:<22}{len(lines) / secs:>12,.0f}{secs:>10.3f}{secs / gen:>13.2f}")
    ratio = gen / times["hand-written"]
    print(
        f"generated / hand-written time: {ratio:.2f} (target <= 1.15) {'PASS' if ratio <= 1.15 else 'FAIL'}"
    )
    ratio = times["glom"] / gen
    print(f"glom / generated time: {ratio:.2f} (target >= 10) {'PASS' if ratio >= 10 else 'FAIL'}")
    if not args.skip_memory:
        memory(blob)


if __name__ == "__main__":
    main()
