"""Alert notifications: which transitions to tell, and their delivery off the pipeline.

`NotifyPolicy` (pure: it is given `now`) turns the alert engine's transitions into
notifications: one per firing, none again for the same alert (rule and model) within the repeat
interval, and a resolve for every firing it told (ops/alert_payloads.py writes their bodies).
`Delivery` posts the bodies from a thread of its own, from a bounded queue, with bounded retries
and exponential back-off, so that no service waits on the network; what finally fails is
counted (`alert_notifications_failed`).
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import urllib.request
import warnings
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from mlmon.errors import ConfigError
from mlmon.monitoring.alert_rules import Rule, Transition

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (rule name, series)
Transport = Callable[[bytes], None]  # takes one body; raises OSError when it was not delivered

HTTP_TIMEOUT = 5.0
FIRST_DELAY = 1.0  # seconds before the second attempt; doubled after each failure
MAX_DELAY = 30.0
CLOSE_PATIENCE = 2.0  # seconds a process's exit waits for notifications still queued
COUNTERS = (
    "alert_notifications_sent",
    "alert_notification_retries",
    "alert_notifications_failed",
    "alert_notifications_dropped",
    "alert_notifications_suppressed",
)


@dataclass(frozen=True)
class Notification:
    """One message to send: an alert fired (or fires again) or resolved."""

    rule: Rule
    series: str  # the model, or "" for a service-wide signal
    state: str  # "firing" or "resolved"
    value: float
    at: float
    started_at: float  # when the firing it is about began

    @property
    def condition(self) -> str:
        selector = f"[{self.rule.selector}]" if self.rule.selector else ""
        return f"{self.rule.signal}{selector}"

    @property
    def threshold(self) -> str:
        wait = f" for {self.rule.for_seconds:g}s" if self.rule.for_seconds else ""
        return f"{self.rule.op} {self.rule.threshold:g}{wait}"

    def summary(self) -> str:
        where = f" on model {self.series}" if self.series else ""
        return f"{self.rule.name} {self.state}{where}"

    def description(self) -> str:
        return f"{self.condition} is {self.value:.4g} (alert when {self.threshold})"


class NotifyPolicy:
    """Decides which transitions become notifications.

    A firing is told unless the same alert's last told firing is younger than the repeat
    interval; then it is held, and told once the interval has passed if it still fires. A
    resolve is told only for a firing that was told, so a receiver never sees one alone.
    """

    def __init__(self, repeat_interval: float) -> None:
        self.repeat_interval = repeat_interval
        self.suppressed = 0
        self._told_at: dict[Key, float] = {}  # when each alert's last firing was told
        self._told: dict[Key, float] = {}  # alerts a receiver believes firing -> their start
        self._held: dict[Key, Transition] = {}  # firings kept quiet within the interval

    def decide(
        self, changes: Iterable[Transition], firing: Mapping[Key, float], now: float
    ) -> list[Notification]:
        """`changes` from this evaluation; `firing`: every alert firing now -> its value."""
        out = []
        for change in changes:
            key = (change.rule.name, change.series)
            if change.state == "firing":
                if self._quiet(key, now):
                    self._held[key] = change
                    self.suppressed += 1
                else:
                    out.append(self._fire(change, change.value, now))
                continue
            self._held.pop(key, None)
            started = self._told.pop(key, None)
            if started is not None:
                out.append(
                    Notification(
                        change.rule, change.series, "resolved", change.value, change.at, started
                    )
                )
        for key, held in list(self._held.items()):
            if key in firing and not self._quiet(key, now):
                del self._held[key]
                out.append(self._fire(held, firing[key], now))
        return out

    def _quiet(self, key: Key, now: float) -> bool:
        told = self._told_at.get(key)
        return told is not None and now - told < self.repeat_interval

    def _fire(self, change: Transition, value: float, now: float) -> Notification:
        key = (change.rule.name, change.series)
        self._told_at[key] = now
        self._told[key] = change.at
        return Notification(change.rule, change.series, "firing", value, now, change.at)


def apprise_transport(urls: str) -> Transport:
    """Deliver text messages to every apprise URL (Slack, e-mail, Teams, ...); a channel that
    did not take it raises OSError, so the delivery retries."""
    try:
        import apprise
    except ImportError:
        msg = (
            "MLMON_ALERT_NOTIFY needs apprise: install mlmon with its notify extra "
            "(pip install 'mlmon[notify]', or uv sync --extra notify)"
        )
        raise ConfigError(msg) from None
    notifier = apprise.Apprise()
    for url in urls.split():
        # Its first add loads every plugin; one imports the stdlib's deprecated imghdr, a
        # warning about apprise, not about the user's settings.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            known = notifier.add(url)
        if not known:
            scheme = url.split("://", 1)[0]  # the rest may hold a token
            msg = (
                f"MLMON_ALERT_NOTIFY: apprise does not take the {scheme}:// URL given; "
                "see https://github.com/caronc/apprise/wiki for each service's form"
            )
            raise ConfigError(msg)

    def send(body: bytes) -> None:
        message = json.loads(body)
        if not notifier.notify(
            body=message["body"], title=message["title"], notify_type=message["type"]
        ):
            msg = "apprise could not notify every channel (its log says why)"
            raise OSError(msg)

    return send


def http_transport(url: str, timeout: float = HTTP_TIMEOUT) -> Transport:
    """POST each body as JSON; a refused connection or an HTTP error status raises OSError."""

    def post(body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 - the setting only takes http(s) URLs
            url, body, {"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 - http(s) only
            pass  # urlopen raises HTTPError (an OSError) for 4xx and 5xx

    return post


class Delivery:
    """A bounded queue of bodies and a thread that delivers them, retrying with back-off.

    `submit` never blocks: when the queue is full the oldest waiting body is dropped and
    counted. `deliver` (the thread's work) tries `attempts` times, sleeping `first_delay`,
    then twice as long each time up to `max_delay`; `sleep` is injectable for tests.
    """

    def __init__(
        self,
        transport: Transport,
        counters: Counter[str],
        *,
        attempts: int = 5,
        queue_size: int = 100,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        sleep: Callable[[float], object] | None = None,
        target: str = "webhook",
    ) -> None:
        self.transport = transport
        self.counters = counters
        self.attempts, self.queue_size = attempts, queue_size
        self.first_delay, self.max_delay = first_delay, max_delay
        self.target = target
        self._closing = threading.Event()
        # Waiting on the closing event: an exit cuts the back-off short, not the attempts.
        self._sleep = sleep or self._closing.wait
        self._queue: deque[bytes] = deque()
        self._busy = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        for name in COUNTERS:  # present from the start: scrapes iterate these from a thread
            counters[name] += 0
        _LIVE.add(self)

    def submit(self, body: bytes) -> None:
        with self._cond:
            if len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self.counters["alert_notifications_dropped"] += 1
                log.warning("alert notification queue full: dropped the oldest notification")
            self._queue.append(body)
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mlmon-alert-delivery", daemon=True
                )
                self._thread.start()

    def deliver(self, body: bytes) -> bool:
        """Try one body up to `attempts` times; False (and counted) when all failed."""
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                self.transport(body)
            except OSError as error:
                if attempt == self.attempts:
                    log.error(
                        "alert notification to %s failed %d times, giving up: %s",
                        self.target,
                        attempt,
                        error,
                    )
                    break
                wait = "at once (exiting)" if self._closing.is_set() else f"in {delay:g}s"
                log.warning(
                    "alert notification to %s failed (%s); retrying %s", self.target, error, wait
                )
                self.counters["alert_notification_retries"] += 1
                self._sleep(delay)
                delay = min(delay * 2, self.max_delay)
            else:
                self.counters["alert_notifications_sent"] += 1
                return True
        self.counters["alert_notifications_failed"] += 1
        return False

    def flush(self, timeout: float) -> bool:
        """Wait until every submitted body was delivered or given up; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, timeout: float = CLOSE_PATIENCE) -> None:
        """Give what is queued `timeout` seconds (back-off waits cut short), then stop."""
        self._closing.set()
        self.flush(timeout)
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closing.is_set())
                if not self._queue:
                    return
                body = self._queue.popleft()
                self._busy = True
            try:
                self.deliver(body)
            except Exception:  # a broken transport must not end the deliveries after it
                log.exception("alert notification to %s failed", self.target)
                self.counters["alert_notifications_failed"] += 1
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


_LIVE: weakref.WeakSet[Delivery] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """At exit, a resolve queued a moment ago still goes out (for a couple of seconds)."""
    for delivery in list(_LIVE):
        delivery.close()
