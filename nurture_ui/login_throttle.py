"""Sign-in throttling: repeated failures lock an account, and an address, for a while.

Failures are kept in Redis per account (the email as typed, lower-cased, whether or not such an account
exists, so the lock says nothing about who has an account) and per client address, as sorted sets of
failure instants read from ``clock.now()`` (so tests can move time). ``LOGIN_MAX_FAILURES_PER_ACCOUNT``
failures within ``LOGIN_WINDOW_SECONDS`` lock the account until ``LOGIN_LOCKOUT_SECONDS`` after the last
one; likewise ``LOGIN_MAX_FAILURES_PER_IP`` for an address. While locked even the right password is
refused; a successful sign-in clears the account's failures.

If Redis cannot be reached the throttle steps aside (and logs it): an outage of the work queue must not
lock every person out of the app.
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError

from nurture_ui import clock
from nurture_ui.extensions import get_redis

log = logging.getLogger(__name__)

KEY_PREFIX = "nurture:login-throttle:"


@dataclass(frozen=True)
class Lockout:
    scope: str  # "account" or "address"
    until: datetime

    def message(self, now: datetime) -> str:
        minutes = max(1, math.ceil((self.until - now).total_seconds() / 60))
        what = "this account" if self.scope == "account" else "this network address"
        return (
            f"Too many failed sign-ins for {what}. For your security, sign-in is locked for "
            f"{minutes} more minute{'s' if minutes != 1 else ''}. Try again later or ask an admin."
        )


def _keys(email: str, address: str | None) -> dict[str, str]:
    # Hashed: the keys name no email address in Redis.
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    keys = {"account": f"{KEY_PREFIX}account:{account}"}
    if address:
        keys["address"] = f"{KEY_PREFIX}address:{address}"
    return keys


def _limits() -> dict[str, int]:
    config = current_app.config
    return {
        "account": int(config.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)),
        "address": int(config.get("LOGIN_MAX_FAILURES_PER_IP", 20)),
    }


def _window() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("LOGIN_WINDOW_SECONDS", 900)))


def _lockout() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("LOGIN_LOCKOUT_SECONDS", 900)))


def lockout_for(email: str, address: str | None) -> Lockout | None:
    """The lock on this account or address now, or None when a sign-in may be tried."""
    now = clock.now()
    limits = _limits()
    try:
        redis = get_redis()
        for scope, key in _keys(email, address).items():
            # Failures that still count: those within the window, and those whose lockout still runs.
            horizon = now - max(_window(), _lockout())
            redis.zremrangebyscore(key, "-inf", horizon.timestamp())
            recent = redis.zrangebyscore(key, (now - _window()).timestamp(), "+inf", withscores=True)
            if len(recent) >= limits[scope]:
                last = datetime.fromtimestamp(recent[-1][1], now.tzinfo)
                until = last + _lockout()
                if until > now:
                    return Lockout(scope, until)
    except RedisError as error:
        log.warning("login throttle unavailable (%s): sign-in is not throttled", error)
    return None


def record_failure(email: str, address: str | None) -> None:
    now = clock.now()
    ttl = int((_window() + _lockout()).total_seconds())
    try:
        redis = get_redis()
        pipe = redis.pipeline()
        for key in _keys(email, address).values():
            pipe.zadd(key, {uuid.uuid4().hex: now.timestamp()})
            pipe.expire(key, ttl)
        pipe.execute()
    except RedisError as error:
        log.warning("login throttle unavailable (%s): failure not counted", error)


def clear_account(email: str) -> None:
    try:
        get_redis().delete(_keys(email, None)["account"])
    except RedisError as error:
        log.warning("login throttle unavailable (%s)", error)
