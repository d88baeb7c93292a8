"""Heuristic tracking's counts made global through the shared store (``SHIM_SHARED_STORE_URL``).

Without a store each worker's :class:`~.tracking.Tracker` counts only the
requests it served, so with W workers a caller's traffic is split W ways and an
enumeration spread over them can stay under every worker's threshold. With a
store, the request path stays as it is (local, synchronous, no I/O): each
worker keeps counting, and :class:`SharedTracking` (one background task per
worker, started by the app's lifespan) pushes, every :data:`INTERVAL` seconds,
each active caller's counts in one atomic Lua call (:data:`PUSH`) into keys per
caller and window (windows on the epoch's grid, so every worker has the same
ones), which expire after two windows: each worker's counts so far, in hash
fields of its own (``<worker>|req``, set only upwards), and ``PFADD`` of the
ids new since its last push; the call answers the sums over every worker.

A push is idempotent, so it can be sent again after any failure: a push whose
answer timed out may still have run in Redis, and a delta (``HINCRBY``) sent
again would count the same requests twice, so that slowing a worker down could
double every active caller's counts and open incidents (a ``deny``, say) against
callers that did nothing unusual. The tracker then judges that caller's window by
its own count plus the other workers' share (``o_*`` = sum - this worker's own),
so detection sees the sum, at most one push interval late.

Ids go to the store as BLAKE2b digests keyed by the mapping's name, never the
values (Python's ``hash()`` differs between processes); they are pseudonyms
only: whoever reads Redis and knows the name can confirm a guessed id. A
HyperLogLog counts distinct ids within about 1 %.

Incidents: each worker that sees the condition opens the incident locally and
applies its effect; only the one that claims ``caller x kind`` in the store
(``SET NX`` with a TTL of ``quiet`` seconds, refreshed by every push while its
incident is open) writes ``incident-opened`` and ``incident-closed`` to the
audit trail and counts it in ``shim_detections_total``.

The store is :class:`~.shared.SharedLimiter`'s: one client, one timeout, one
up/down state. While it is down pushes are not tried (one after each backoff
step is), the other workers' shares are forgotten and the tracker judges on
local counts, as without a store; an unclaimable incident is written by this
worker. When it is back the next push makes the counts global again. Deltas
not pushed when a caller's window ends (at most one interval's) stay local.
The trail's ``incident-closed`` is the claiming worker's: another worker whose
requests still meet the condition keeps its effect a little longer.

Effects: every push also shares the ``throttle`` and ``deny`` of the incidents
open on this worker (:data:`SHARE_EFFECTS`: a sorted set of ``effect<TAB>caller``
scored by when the incident falls quiet) and takes the others' into
``Tracker.remote``, so a caller denied on one worker is denied on every worker,
whatever it sends there, at most one push interval later. Each effect holds
until the end it was published with (its score): a share that fails (the store
down, or an answer read too late) keeps the effects read last until their own
ends, so slowing a worker down cannot lift another worker's deny there.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import TYPE_CHECKING, Any, Final

from .incidents import EFFECTS
from .periodic import Periodic

if TYPE_CHECKING:
    from .incidents import Incident
    from .shared import SharedLimiter
    from .tracking import Tracker

__all__ = [
    "INTERVAL",
    "PUSH",
    "SHARE_EFFECTS",
    "SharedTracking",
    "claim_key",
    "counts_key",
    "effects_key",
    "ids_key",
]

INTERVAL: Final = 1.0  # seconds between two pushes of a worker
_FIELDS: Final = ("req", "vol", "vreq", "err", "rej")
_IDS_PER_PFADD: Final = 1000  # Lua's unpack() has a stack limit

# KEYS: per caller, its counters (hash) and ids (HyperLogLog), then the claims to refresh.
# ARGV[1]: callers, ARGV[2]: TTL of the counts (ms), ARGV[3]: TTL of a claim (ms), ARGV[4]:
# the worker, then per caller the worker's five counts of _FIELDS in this window, the number
# of new ids and the ids. A count only ever rises within a window, so a count is set only
# upwards: a push sent twice, or a late one after a newer, changes nothing.
# Returns per caller the five sums over every worker and the distinct ids.
PUSH: Final = """
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local me = ARGV[4]
local fields = {'req', 'vol', 'vreq', 'err', 'rej'}
local index = {req = 1, vol = 2, vreq = 3, err = 4, rej = 5}
local a = 5
local out = {}
for i = 1, n do
  local h = KEYS[2 * i - 1]
  local hll = KEYS[2 * i]
  for j = 1, 5 do
    local field = me .. '|' .. fields[j]
    local count = tonumber(ARGV[a + j - 1])
    if count > tonumber(redis.call('HGET', h, field) or '0') then
      redis.call('HSET', h, field, count)
    end
  end
  local sums = {0, 0, 0, 0, 0}
  local all = redis.call('HGETALL', h)
  for k = 1, #all, 2 do
    local j = index[string.match(all[k], '|(%a+)$')]
    if j then
      sums[j] = sums[j] + tonumber(all[k + 1])
    end
  end
  for j = 1, 5 do
    out[#out + 1] = sums[j]
  end
  local ids = tonumber(ARGV[a + 5])
  local first = a + 6
  while ids > 0 do
    local take = math.min(ids, 1000)
    redis.call('PFADD', hll, unpack(ARGV, first, first + take - 1))
    first = first + take
    ids = ids - take
  end
  a = first
  redis.call('PEXPIRE', h, ttl)
  redis.call('PEXPIRE', hll, ttl)
  out[#out + 1] = redis.call('PFCOUNT', hll)
end
for k = 2 * n + 1, #KEYS do
  redis.call('PEXPIRE', KEYS[k], tonumber(ARGV[3]))
end
return out
"""

# KEYS[1]: the service's enforced effects. ARGV[1]: now (ms), ARGV[2]: the key's TTL (ms),
# then pairs of (until, "effect<TAB>caller") of this worker's open incidents. Returns every
# member still in force, each followed by its until (ms).
SHARE_EFFECTS: Final = """
local now = tonumber(ARGV[1])
for i = 3, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'GT', tonumber(ARGV[i]), ARGV[i + 1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
"""
_ENFORCED: Final = EFFECTS[EFFECTS.index("throttle") :]  # the effects that refuse requests


def counts_key(service: str, window: int, caller: str) -> str:
    """The hash of a caller's counters in window number ``window`` (start // length)."""
    return f"shim:{service}:track:{window}:c:{caller}"


def ids_key(service: str, window: int, caller: str) -> str:
    """The HyperLogLog of the caller's distinct ids in window number ``window``."""
    return f"shim:{service}:track:{window}:i:{caller}"


def effects_key(service: str) -> str:
    """The sorted set of the ``throttle`` and ``deny`` effects in force, over all workers."""
    return f"shim:{service}:effects"


def claim_key(service: str, kind: str, caller: str) -> str:
    """Who writes the audit events of the caller's open incident of ``kind``."""
    return f"shim:{service}:incident:{kind}:{caller}"


class SharedTracking:
    """Pushes a worker's tracking deltas to the store and keeps the global totals (module doc)."""

    def __init__(self, store: SharedLimiter, tracker: Tracker) -> None:
        self.store = store
        self.tracker = tracker
        self.service = store.service
        self.window = tracker.window
        self.claim_ms = max(1, int(tracker.quiet * 1000))
        self._salt = hashlib.blake2b(store.service.encode(), digest_size=16).digest()
        # This worker's name in the counts: random, so a restarted worker or a worker of
        # another replica never takes over counts that are not its own.
        self.worker = os.urandom(8).hex()
        self.global_ = False  # the last push succeeded: o_* hold the other workers' shares
        # every worker's effects as the store last answered: (until in epoch seconds, effect,
        # caller), kept to their ends while the store cannot be read
        self.effects: list[tuple[float, str, str]] = []
        # a failed step leaves the counts local (_local) until the next one succeeds
        self._every = Periodic(INTERVAL, self._share, "tracking push failed", self._local)
        tracker.shared = True

    # -- the background task ---------------------------------------------------------------

    def start(self) -> None:
        self._every.start()

    async def stop(self) -> None:
        await self._every.stop()

    async def _share(self) -> None:
        now = time.time()
        await self.push(now)
        await self.share_effects(now)

    # -- one push ----------------------------------------------------------------------------

    async def push(self, now: float) -> bool:
        """Push every active caller's deltas; True when the counts are global now."""
        tracker = self.tracker
        batch: list[tuple[Any, float, tuple[int, ...], list[Any]]] = []
        keys: list[str] = []
        args: list[Any] = []
        for name, st in tracker.callers.items():
            if not st.cur_req or now >= st.end or st.pending is None:
                continue
            snap = (st.cur_req, st.cur_vol, st.cur_vreq, st.cur_err, st.cur_rej, len(st.cur_ids))
            ids, st.pending = st.pending, []
            batch.append((st, st.start, snap, ids))
            number = int(st.start // self.window)
            keys += (counts_key(self.service, number, name), ids_key(self.service, number, name))
            args += snap[:5]
            args.append(len(ids))
            args += (self._digest(v) for v in ids)
        claims = [
            claim_key(self.service, i.kind, i.caller) for i in tracker.open_incidents() if i.claimed
        ]
        if not batch and not claims:
            return self.global_
        ttl = int(2 * self.window * 1000)
        ok, totals = await self.store.call(
            self.store.script,
            PUSH,
            keys + claims,
            [len(batch), ttl, self.claim_ms, self.worker, *args],
        )
        if not ok or totals is None:
            # It may still have run in Redis (an answer that timed out): sent again next
            # time, the counts change nothing and the ids count once.
            for st, start, _, ids in batch:  # pushed next time, if the window has not ended
                if st.start == start and st.pending is not None:
                    st.pending[:0] = ids
            self._local()
            return False
        for i, (st, start, sent, _) in enumerate(batch):
            if st.start != start:  # the window ended meanwhile: its counts are history
                continue
            t = totals[6 * i : 6 * i + 6]
            st.o_req, st.o_vol, st.o_vreq, st.o_err, st.o_rej, st.o_ids = (
                max(0, int(t[k]) - sent[k]) for k in range(6)
            )
        self.global_ = True
        return True

    async def share_effects(self, now: float) -> None:
        """Publish this worker's throttle and deny incidents; take every worker's in force."""
        tracker = self.tracker
        args: list[Any] = []
        for incident in tracker.open_incidents():
            if incident.effect in _ENFORCED:
                until = int((incident.last + tracker.quiet) * 1000)
                args += (until, f"{incident.effect}\t{incident.caller}")
        ttl = 2 * self.claim_ms
        ok, members = await self.store.call(
            self.store.script,
            SHARE_EFFECTS,
            [effects_key(self.service)],
            [int(now * 1000), ttl, *args],
        )
        if ok and isinstance(members, list):
            self.effects = _effects(members)
        # Not read (down, or a timeout): what was read last holds until each effect's own end.
        # Forgetting it would let whoever can slow this worker lift every other worker's deny.
        self.effects = kept = [e for e in self.effects if e[0] > now]
        remote: dict[str, tuple[str, float]] = {}
        for end, effect, caller in kept:
            held = remote.get(caller)
            if held is None or (EFFECTS.index(effect), end) > (EFFECTS.index(held[0]), held[1]):
                remote[caller] = (effect, end)
        tracker.remote = remote

    def _digest(self, value: Any) -> bytes:
        return hashlib.blake2b(str(value).encode(), digest_size=8, key=self._salt).digest()

    def _local(self) -> None:
        """The store is down: forget the other workers' shares, judge on local counts."""
        if not self.global_:
            return
        self.global_ = False
        for st in self.tracker.callers.values():
            st.o_vol = st.o_vreq = st.o_ids = st.o_err = st.o_req = st.o_rej = 0

    # -- incidents ---------------------------------------------------------------------------

    async def claim(self, incident: Incident) -> bool:
        """True if this worker writes the incident's events (it claimed it, or the store is down)."""
        key = claim_key(self.service, incident.kind, incident.caller)
        ok, won = await self.store.call(self._set_nx, key, incident.id)
        incident.claimed = bool(won) if ok else True
        return incident.claimed

    async def _set_nx(self, key: str, value: str) -> Any:
        return await self.store.client.set(key, value, nx=True, px=self.claim_ms)


def _effects(reply: list[Any]) -> list[tuple[float, str, str]]:
    """``(until in epoch seconds, effect, caller)`` of SHARE_EFFECTS's flat member-score reply."""
    out: list[tuple[float, str, str]] = []
    for member, score in zip(reply[::2], reply[1::2], strict=False):
        text = member.decode() if isinstance(member, bytes) else str(member)
        effect, _, caller = text.partition("\t")
        if effect in _ENFORCED and caller:
            out.append((float(score) / 1000, effect, caller))
    return out
