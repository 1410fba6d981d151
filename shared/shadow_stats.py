"""Shadow figures of a challenger in Redis: inference workers write them, feedback labels them, the gate reads them.

Per challenger version, a hash of counters (calls, tweets, agreement, skipped calls, both models' confusion cells on
labelled predictions) and two lists of the latest model-call times, capped; all of it expires `STATS_TTL_S` after the
last write. Per shadow-scored prediction, a small hash of both models' labels lives as long as the prediction
record, so that an analyst's later flag or confirmation counts once for each model, and moves if the label changes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import redis

from shared import redis_keys
from shared.schemas.base import Label
from shared.schemas.lifecycle import ModelFiguresLive, ShadowFigures

log = logging.getLogger(__name__)

STATS_TTL_S = 30 * 24 * 3600
LATENCY_SAMPLES = 1000
ROLES = ("champion", "challenger")

# KEYS: the prediction's shadow record. ARGV: the correct label (1 positive, 0 negative), the stats key prefix.
# The stats key is derived from the record (this Redis is never a cluster): one round trip, atomic.
LABEL_SCRIPT = """
local rec = redis.call('HMGET', KEYS[1], 'm', 'v', 'c', 'h', 'l')
if not rec[1] then return 0 end
local truth = ARGV[1]
if rec[5] == truth then return 0 end
local stats = ARGV[2] .. rec[1] .. ':' .. rec[2]
local function cell(predicted, actual)
  if predicted == '1' then
    if actual == '1' then return 'tp' else return 'fp' end
  end
  if actual == '1' then return 'fn' else return 'tn' end
end
if rec[5] then
  redis.call('HINCRBY', stats, 'champion_' .. cell(rec[3], rec[5]), -1)
  redis.call('HINCRBY', stats, 'challenger_' .. cell(rec[4], rec[5]), -1)
else
  redis.call('HINCRBY', stats, 'labelled', 1)
end
redis.call('HINCRBY', stats, 'champion_' .. cell(rec[3], truth), 1)
redis.call('HINCRBY', stats, 'challenger_' .. cell(rec[4], truth), 1)
redis.call('HSET', KEYS[1], 'l', truth)
return 1
"""


def _bit(label: Label) -> str:
    return "1" if label == "positive" else "0"


def _percentile(samples: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile; None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


class ShadowStore:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._label_script = client.register_script(LABEL_SCRIPT)

    def record_scored(
        self,
        model_name: str,
        challenger_version: str,
        prediction_ids: Sequence[str],
        champion_labels: Sequence[Label],
        challenger_labels: Sequence[Label],
        champion_ms: float,
        challenger_ms: float,
        record_ttl_s: int,
    ) -> None:
        """One shadow-scored model call: both labels of each of its tweets, and both models' call times."""
        stats = redis_keys.shadow_stats(model_name, challenger_version)
        agreed = sum(1 for a, b in zip(champion_labels, challenger_labels, strict=True) if a == b)
        pipe = self._client.pipeline(transaction=False)
        pipe.hsetnx(stats, "since", f"{datetime.now(UTC).timestamp():.3f}")
        pipe.hincrby(stats, "calls", 1)
        pipe.hincrby(stats, "tweets", len(prediction_ids))
        pipe.hincrby(stats, "agreed", agreed)
        pipe.expire(stats, STATS_TTL_S)
        for role, ms in zip(ROLES, (champion_ms, challenger_ms), strict=True):
            key = redis_keys.shadow_latency(model_name, challenger_version, role)
            pipe.lpush(key, f"{ms:.4f}")
            pipe.ltrim(key, 0, LATENCY_SAMPLES - 1)
            pipe.expire(key, STATS_TTL_S)
        for prediction_id, champion, challenger in zip(prediction_ids, champion_labels, challenger_labels, strict=True):
            key = redis_keys.shadow_prediction(prediction_id)
            fields = {"m": model_name, "v": challenger_version, "c": _bit(champion), "h": _bit(challenger)}
            pipe.hset(key, mapping=fields)
            pipe.expire(key, record_ttl_s)
        pipe.execute()

    def record_skipped(self, model_name: str, challenger_version: str) -> None:
        stats = redis_keys.shadow_stats(model_name, challenger_version)
        pipe = self._client.pipeline(transaction=False)
        pipe.hincrby(stats, "skipped", 1)
        pipe.expire(stats, STATS_TTL_S)
        pipe.execute()

    def record_label(self, prediction_id: str, correct_label: Label) -> bool:
        """Count an analyst's label for both models, once per prediction; False when it was not shadow-scored
        (or the label is the one already counted)."""
        counted = self._label_script(
            keys=[redis_keys.shadow_prediction(prediction_id)],
            args=[_bit(correct_label), redis_keys.SHADOW_STATS_PREFIX],
        )
        return bool(counted)

    def figures(self, model_name: str, challenger_version: str) -> ShadowFigures | None:
        """What was measured of this challenger, or None before its first shadow-scored call."""
        pipe = self._client.pipeline(transaction=False)
        pipe.hgetall(redis_keys.shadow_stats(model_name, challenger_version))
        for role in ROLES:
            pipe.lrange(redis_keys.shadow_latency(model_name, challenger_version, role), 0, -1)
        raw, *latencies = pipe.execute()
        if not raw:
            return None
        counts = {key.decode(): value.decode() for key, value in raw.items()}

        def count(name: str) -> int:
            return int(counts.get(name, 0))

        live = {}
        for role, samples in zip(ROLES, latencies, strict=True):
            times = [float(sample) for sample in samples]
            tp, fp = count(f"{role}_tp"), count(f"{role}_fp")
            fn, tn = count(f"{role}_fn"), count(f"{role}_tn")
            live[role] = ModelFiguresLive(
                version=None,
                latency_p50_ms=_percentile(times, 0.50),
                latency_p99_ms=_percentile(times, 0.99),
                labelled=count("labelled"),
                true_positives=tp,
                false_positives=fp,
                false_negatives=fn,
                true_negatives=tn,
                precision=tp / (tp + fp) if tp + fp else None,
                recall=tp / (tp + fn) if tp + fn else None,
            )
        live["challenger"].version = challenger_version
        tweets = count("tweets")
        since = datetime.fromtimestamp(float(counts["since"]), tz=UTC) if "since" in counts else None
        return ShadowFigures(
            model_name=model_name,
            challenger_version=challenger_version,
            since=since,
            shadow_calls=count("calls"),
            shadow_tweets=tweets,
            skipped_calls=count("skipped"),
            agreement=count("agreed") / tweets if tweets else None,
            champion=live["champion"],
            challenger=live["challenger"],
        )
