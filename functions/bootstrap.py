"""The composition root: the one place where real clients are built and wired.

No client is built at import time, no credential is looked up and nothing touches the
network: `get_app()` builds the App on first use (the first request or event an
instance handles) and keeps it for the instance's life, so importing main.py needs no
credentials. Everything else the first event would otherwise pay is done at import,
before the function listens (functions-framework imports main.py before gunicorn
binds its port): the cloud client libraries and every module the App uses are imported
at the top of this file, httpcore (which httpx imports only when a client is built)
too, and the TLS context with its CA bundle is loaded once (`TLS_CONTEXT`). What is
left for the first event is building the clients (about 40 ms, no network) and the
first connections. `wire()` builds the use cases on whatever ports it is given:
`build()` passes the real ones, the unit tests their fakes.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpcore  # noqa: F401  (httpx imports it lazily, on the first client built)
import httpx
from google.cloud import firestore

from functions.bus import PubSubPublisher
from functions.config import Settings, load_settings
from functions.limits import SLOT_GRACE_SECONDS, ProviderRate
from functions.metering import SERVICES as PROVIDERS
from functions.models import utcnow
from functions.observability import Journal, Redactor, configure_stdlib_logging, set_redactor
from functions.ports import (
    CacheStore,
    DailyBudget,
    DebugStore,
    GenerationLeases,
    MovieCatalog,
    ProviderLimiter,
    Publisher,
    RateLimiter,
    Researcher,
    Roaster,
    RunStore,
    UnitOfWork,
)
from functions.store.budget import FirestoreBudget
from functions.store.caches import FirestoreCaches
from functions.store.leases import FirestoreLeases
from functions.store.logs import FirestoreDebug, FirestoreLogs
from functions.store.provider_limits import FirestoreProviderLimiter
from functions.store.rate_limits import FirestoreRateLimiter
from functions.store.runs import FirestoreRuns
from functions.store.writes import FirestoreUnitOfWork
from functions.upstream.gate import ProviderGate
from functions.upstream.grok import GrokRoaster
from functions.upstream.http import RetryPolicy
from functions.upstream.perplexity import PerplexityResearcher
from functions.upstream.tmdb import Pacer, TmdbCatalog
from functions.usecases.admin_access import AdminAccess
from functions.usecases.budget import BudgetPolicy
from functions.usecases.generation import Generation
from functions.usecases.nightly import Nightly
from functions.usecases.now_playing import NowPlayingList
from functions.usecases.operations import Operations
from functions.usecases.roast_movie import RoastMovie
from functions.usecases.runs import RunLifecycle


@dataclass
class App:
    """What the entry points call: the settings, the journal and the use cases."""

    settings: Settings
    journal: Journal
    now_playing: NowPlayingList
    budget: BudgetPolicy
    generation: Generation
    lifecycle: RunLifecycle
    nightly: Nightly
    roasting: RoastMovie
    operations: Operations
    admin_access: AdminAccess


_lock = threading.Lock()
_app: App | None = None

# The CA bundle, parsed once at import (pure CPU, no network): httpx would otherwise
# load it on the first event, in `build_http_client`.
TLS_CONTEXT: ssl.SSLContext = httpx.create_ssl_context()


def get_app() -> App:
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                _app = build(load_settings())
    return _app


def reset() -> None:
    """Forget the built App (tests that change the environment)."""
    global _app
    with _lock:
        _app = None


def install(app: App) -> None:
    """Use this App instead of building one (tests drive main.py's entry points with
    use cases wired to fakes)."""
    global _app
    with _lock:
        _app = app


def secrets_of(settings: Settings) -> list[str]:
    return [
        s.get_secret_value()
        for s in (
            settings.admin_token,
            settings.client_key_secret,
            settings.tmdb_api_token,
            settings.tmdb_api_key,
            settings.perplexity_api_key,
            settings.xai_api_key,
        )
        if s is not None
    ]


def build_http_client(settings: Settings) -> httpx.Client:
    # One pooled client per instance for all three APIs: connections are reused
    # across movies, and every request has a timeout.
    return httpx.Client(
        timeout=httpx.Timeout(settings.upstream_timeout_seconds, connect=10.0),
        limits=httpx.Limits(
            max_connections=settings.http_max_connections,
            max_keepalive_connections=settings.http_max_keepalive,
        ),
        headers={"User-Agent": "plotburn/1.0"},
        verify=TLS_CONTEXT,
    )


def provider_rates(settings: Settings) -> dict[str, ProviderRate]:
    return {service: settings.provider_rate(service) for service in PROVIDERS}


def build_firestore_client(settings: Settings) -> firestore.Client:
    db = firestore.Client(project=settings.project)
    # The client makes its gRPC stub on first use, without a lock: a cold instance's
    # first deliveries, arriving together, would each make a channel (all but one
    # thrown away, each connecting on its own). Make it once, here, under get_app's
    # lock; the channel still connects only on the first call.
    _ = db._firestore_api
    return db


def upstream_clients(
    settings: Settings,
    http: httpx.Client,
    policy: RetryPolicy,
    limiter: ProviderLimiter | None = None,
) -> dict[str, Any]:
    """The three upstream clients, as the use cases (and `make smoke`) use them; with
    `limiter`, every request to a provider passes its fleet-wide limit first."""

    def gate(service: str) -> ProviderGate | None:
        if limiter is None or not settings.provider_rate(service).enabled:
            return None
        return ProviderGate(limiter, service, settings.rate_max_wait_seconds)

    return {
        "catalog": TmdbCatalog(
            client=http,
            base_url=settings.tmdb_api_base,
            token=settings.tmdb_api_token,
            api_key=settings.tmdb_api_key,
            policy=policy,
            region=settings.tmdb_region,
            max_pages=settings.tmdb_max_pages,
            pacer=Pacer(settings.tmdb_requests_per_second),
            gate=gate("tmdb"),
        ),
        "researcher": PerplexityResearcher(
            client=http,
            base_url=settings.perplexity_api_base,
            api_key=settings.perplexity_api_key,
            model=settings.perplexity_model,
            policy=policy,
            price=settings.research_price,
            max_output_tokens=settings.perplexity_max_output_tokens,
            search_recency=settings.perplexity_search_recency,
            gate=gate("research"),
        ),
        "roaster": GrokRoaster(
            client=http,
            base_url=settings.xai_api_base,
            api_key=settings.xai_api_key,
            model=settings.xai_model,
            policy=policy,
            price=settings.roast_price,
            max_tokens=settings.xai_max_tokens,
            gate=gate("roast"),
        ),
    }


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.upstream_max_attempts,
        backoff_max_seconds=settings.upstream_backoff_max_seconds,
    )


def build(settings: Settings, **overrides: Any) -> App:
    """Wire the real implementations. `overrides` replaces any port `wire` takes."""
    set_redactor(Redactor(secrets_of(settings)))
    configure_stdlib_logging()

    http = overrides.pop("http_client", None) or build_http_client(settings)
    policy = retry_policy(settings)
    db = overrides.pop("firestore_client", None) or build_firestore_client(settings)

    caches = FirestoreCaches(db, settings.cache_version, settings.tmdb_region)
    leases = FirestoreLeases(db, settings.cache_version, settings.generation_lease)
    budget = FirestoreBudget(db)
    debug = FirestoreDebug(db)

    # A slot lapses if its holder dies: one attempt's timeout plus a grace.
    limiter = overrides.pop("provider_limiter", None) or FirestoreProviderLimiter(
        db, provider_rates(settings), settings.upstream_timeout_seconds + SLOT_GRACE_SECONDS
    )

    deps: dict[str, Any] = {
        **upstream_clients(settings, http, policy, limiter),
        "caches": caches,
        "leases": leases,
        "runs": FirestoreRuns(db, caches),
        "journal": Journal(FirestoreLogs(db)),
        "budget": budget,
        "rate_limits": FirestoreRateLimiter(db),
        "uow": FirestoreUnitOfWork(db, caches, budget, leases, debug),
        "debug_store": debug,
    }
    if "publisher" not in overrides:
        deps["publisher"] = PubSubPublisher(
            PubSubPublisher.build_client(),
            settings.project,
            settings.nightly_topic,
            settings.roast_topic,
            settings.publish_timeout_seconds,
        )
    deps.update(overrides)
    return wire(settings, **deps)


def wire(
    settings: Settings,
    *,
    catalog: MovieCatalog,
    researcher: Researcher,
    roaster: Roaster,
    publisher: Publisher,
    caches: CacheStore,
    leases: GenerationLeases,
    runs: RunStore,
    journal: Journal,
    budget: DailyBudget,
    rate_limits: RateLimiter,
    uow: UnitOfWork,
    debug_store: DebugStore,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval_seconds: float = 0.25,
) -> App:
    """The use cases on these ports, each given only the ports it uses."""
    now_playing = NowPlayingList(settings, catalog, caches, clock)
    spending = BudgetPolicy(settings, budget, journal, clock)
    generation = Generation(
        settings=settings,
        now_playing=now_playing,
        budget=spending,
        catalog=catalog,
        researcher=researcher,
        roaster=roaster,
        caches=caches,
        leases=leases,
        rate_limits=rate_limits,
        uow=uow,
        clock=clock,
        sleep=sleep,
        poll_interval_seconds=poll_interval_seconds,
    )
    lifecycle = RunLifecycle(
        settings, runs, journal, publisher, catalog, now_playing, spending, clock
    )
    return App(
        settings=settings,
        journal=journal,
        now_playing=now_playing,
        budget=spending,
        generation=generation,
        lifecycle=lifecycle,
        nightly=Nightly(runs, journal, publisher, now_playing, lifecycle, clock),
        roasting=RoastMovie(runs, journal, generation, lifecycle, now_playing, clock),
        operations=Operations(runs, caches, debug_store, journal, lifecycle, generation, clock),
        admin_access=AdminAccess(rate_limits, clock),
    )
