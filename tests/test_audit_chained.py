"""``chain.chained`` writes the canonical line once and splices ``hash`` into it; the line
must be byte for byte what writing the whole record (hash included) gives, whatever the
event's strings hold (quotes, backslashes, the splice marker itself, any Unicode)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from shimgen.runtime.audit.chain import chained, check_event, record_hash

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    [',"latency_ms":', '","latency_ms":1,"x":"', "\\", '"', ""]
)
opt_text = st.none() | text
status = st.integers(100, 599)
events = st.fixed_dictionaries(
    {
        "time": text,
        "request_id": text,
        "caller_request_id": opt_text,
        "caller": opt_text,
        "group": opt_text,
        "route": text,
        "direction": text,
        "mapping": text,
        "mapping_version": st.integers(0, 2**63 - 1),
        "mapping_sha256": text,
        "records": st.integers(0, 2**63 - 1),
        "fields": st.lists(text, max_size=4),
        "outcome": status,
        "latency_ms": st.integers(0, 10**6)
        | st.floats(0, 1e9, allow_nan=False, allow_infinity=False),
    },
    optional={"upstream_status": st.none() | status, "grant": text},
)
inward = st.fixed_dictionaries(
    {"records_in": st.integers(0, 2**63 - 1), "fields_in": st.lists(text, max_size=4)}
)
# a proxy crossing also says what went inward: both keys or neither
events = st.tuples(events, st.just({}) | inward).map(lambda pair: {**pair[0], **pair[1]})


def written_twice(event: dict[str, Any], chain: str, seq: int, prev: str) -> tuple[str, bytes]:
    """The reference: the record without ``hash`` hashed, then the whole record written."""
    record = {**event, "chain": chain, "seq": seq, "prev": prev}
    digest = hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
    record["hash"] = digest
    return digest, orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


@settings(max_examples=400, deadline=None)
@given(events, text, st.integers(1, 2**62), st.text("0123456789abcdef", min_size=64, max_size=64))
def test_the_spliced_line_is_the_whole_record_written_once(
    event: dict[str, Any], chain: str, seq: int, prev: str
) -> None:
    check_event(event)  # what every sink does first
    digest, line = chained(event, chain, seq, prev)
    assert (digest, line) == written_twice(event, chain, seq, prev)
    assert record_hash(orjson.loads(line)) == digest  # what verify recomputes


def test_another_key_set_is_written_twice() -> None:
    """An event with a key outside the contract (only tests build one) is not spliced."""
    event = {"latency_ms": 1, "incident": "x", "time": "t"}
    assert chained(event, "c", 1, "0" * 64) == written_twice(event, "c", 1, "0" * 64)
