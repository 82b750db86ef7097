"""`plotburn`: the operator's command line for a PlotBurn `api` (local stack or cloud).

Talks only to the HTTP API (stdlib argparse + httpx). See `plotburn --help`.
"""

__version__ = "1.0.0"
