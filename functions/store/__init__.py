"""Firestore implementations of the stores, one module per store: caches, leases,
runs, logs (and debug payloads), budget, rate_limits, and writes (the unit of work: one
commit for what a finished generation leaves behind). What they share is in _firestore.py.

Document layout (collection names in ``collections.py``):

    now_playing/{version}-{region}        movies[], dates, expire_at (23 h)
    truths/{version}-{movie_id}           movie, truth, fetched_at      (permanent)
    roasts/{version}-{movie_id}           movie, details, truth, roast, expire_at (30 days)
    roast_index/{version}                 ready.{movie_id}: expire_at   (has_roast, one read)
    debug/{correlation_id}-{movie_id}     a generation's debug payload, expire_at (7 days)
    leases/{version}-{movie_id}           holder, expire_at             (single flight)
    runs/{correlation_id}                 the run, expire_at (90 days)
    runs/{correlation_id}/outcomes/{id}   one movie's outcome, created once
    meta/stats                            total_runs
    logs/{auto}                           log entries, expire_at (7 days)
    rate_limits/{client}                  tokens, updated_at, expire_at (1 h after last use)
    budgets/{day}-{shard}                 calls, cost_usd, expire_at (40 days)
    budgets/{day}-alert                   alerted_at, created once a day

Every google.api_core error that means "try again later" becomes
InfrastructureUnavailable, so event functions raise it and Pub/Sub redelivers.
"""
