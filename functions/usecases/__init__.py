"""PlotBurn's use cases, one module per use case, each taking only the ports it uses.

``bootstrap.wire`` builds them (on Firestore, Pub/Sub and the upstream APIs, or on
the fakes in ``tests/``); ``main.py``'s entry points and ``http_api`` call them.

A movie's roast, from the nightly message to its outcome:

- ``nightly``: ``start_run`` (the ``fanout`` function) opens the run, lists its movies
  and publishes one roast message per movie;
- ``roast_movie``: ``process_movie`` (the ``roast`` function) decides one movie's
  outcome and records it, write-once;
- ``generation``: ``ensure_roast`` researches and roasts a movie at most once across
  every caller, within the daily budget (``budget``);
- ``runs``: the run's close once its last outcome lands, the deadline sweep, retries
  and ``/cron/status``.

``now_playing`` is the Worker's choice of movies; ``operations`` the admin views.
"""
