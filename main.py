"""PlotBurn's Cloud Functions entry points. Each is deployed from this same file.

- api:    HTTP. The public and admin routes.
- fanout: CloudEvent from the nightly topic. Lists now playing, publishes a roast
          message per movie.
- roast:  CloudEvent from the roast topic (and the dead-letter topic). Decides one
          movie's roast and records its outcome in its run.

Nothing is built at import time (see functions/bootstrap.py), but everything the first
event needs is imported, and then frozen out of the garbage collector's way (below).
"""

from __future__ import annotations

import gc

import flask
import functions_framework
from cloudevents.http import CloudEvent

from functions import entrypoints

# functions-framework imports this module inside the app context of the Flask app it
# is creating: its own 404s answer in the Worker's JSON too.
if flask.has_app_context():
    entrypoints.configure_serving_app(flask.current_app)


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    return entrypoints.handle_http(request)


@functions_framework.cloud_event
def fanout(event: CloudEvent) -> None:
    entrypoints.handle_nightly(event)


@functions_framework.cloud_event
def roast(event: CloudEvent) -> None:
    entrypoints.handle_roast(event)


# functions-framework parses the request into a CloudEvent before fanout or roast
# runs; a body it cannot parse is acknowledged there, not answered 500 forever.
# (Its `errorhandler` is the app's Flask errorhandler; it ships untyped.)
functions_framework.errorhandler(Exception)(entrypoints.reject_unparsed_event)
# Everything imported so far lives as long as the instance. functions-framework imports
# this file and then gunicorn forks its worker; without this, the worker's first full
# collection, during its first deliveries, walks every one of those objects (pausing
# every thread for 0.1-0.2 s) and writes to their pages, copying them from the parent.
gc.freeze()
