"""infra/*.tf held to the code it deploys.

Terraform cannot plan here (no provider downloads), so these tests read the HCL with
python-hcl2 and check it against the Python it configures: the settings the code
reads, the entry points main.py defines, the message the scheduler sends, the
Firestore collections that expire and the queries the store runs. They also pin the
security shape: secrets only through Secret Manager, no broad roles, fanout and roast
invocable only by the push subscriptions' identity.

python-hcl2 8.x notes: string literals keep their quotes ('"api"'), whole-value
expressions come as '${...}', templates as '"...${...}..."', blocks as lists of
dicts and block labels as quoted keys.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import shutil
import subprocess
import typing
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions
from pydantic import AliasChoices, SecretStr

from functions.config import DEFAULT_XAI_MODEL, Settings
from functions.models import NightlyMessage, Trigger
from functions.store import collections

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN_PY = ROOT / "main.py"
FUNCTIONS_DIR = ROOT / "functions"

FUNCTIONS = ("api", "fanout", "roast")
MAX_EVENT_TIMEOUT = 540  # Cloud Functions' cap for event-driven work
MAX_ACK_DEADLINE = 600  # Pub/Sub's cap; for push it is the HTTP request timeout

# Settings fields the cloud deployment must set explicitly even though they have a
# default: the defaults suit local runs (project "plotburn-local"), not production.
MUST_SET_IN_CLOUD = (
    "project",
    "nightly_topic",
    "roast_topic",
    "dead_letter_topic",
    "cache_version",
    "perplexity_model",
    "xai_model",
)
# Project-level roles allowed at all, and for whom.
PROJECT_ROLES = {
    "roles/datastore.user",  # runtimes: Firestore has no finer IAM resource
    "roles/logging.logWriter",
    "roles/run.builder",  # the build identity (Google's documented build SA role)
}


# --------------------------------------------------------------------------- HCL


def _parse(path: Path) -> dict[str, Any]:
    options = SerializationOptions(with_comments=False)
    return hcl2.loads(path.read_text(encoding="utf-8"), serialization_options=options)


def unquote(value: Any) -> Any:
    """'"api"' -> 'api'. Expressions ('${...}') and non-strings are returned as is."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def expression(value: Any) -> str | None:
    """'${var.x}' -> 'var.x'; None for literals and templates."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1].strip()
    return None


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a body (fails if absent or repeated)."""
    found = body.get(name)
    assert isinstance(found, list) and len(found) == 1, f"expected one {name} block, got {found!r}"
    return found[0]


def blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    found = body.get(name, [])
    assert isinstance(found, list), f"{name} is not a block: {found!r}"
    return found


class Config:
    """All infra/*.tf files, merged."""

    def __init__(self) -> None:
        self.files = sorted(INFRA.glob("*.tf"))
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data: dict[tuple[str, str], dict[str, Any]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        self.text = {path.name: path.read_text(encoding="utf-8") for path in self.files}
        for path in self.files:
            tree = _parse(path)
            for kind, target in (("resource", self.resources), ("data", self.data)):
                for entry in tree.get(kind, []):
                    for rtype, named in entry.items():
                        for rname, body in named.items():
                            key = (unquote(rtype), unquote(rname))
                            assert key not in target, f"{kind} {key} declared twice"
                            target[key] = body
            for entry in tree.get("variable", []):
                for name, body in entry.items():
                    self.variables[unquote(name)] = body
            for entry in tree.get("output", []):
                for name, body in entry.items():
                    self.outputs[unquote(name)] = body
            for entry in tree.get("locals", []):
                for name, value in entry.items():
                    if name.startswith("__"):
                        continue
                    assert name not in self.locals, f"local.{name} declared twice"
                    self.locals[name] = value

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (t, name), body in self.resources.items() if t == rtype}

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        assert (rtype, name) in self.resources, f"missing resource {rtype}.{name}"
        return self.resources[(rtype, name)]

    def default(self, name: str) -> Any:
        assert name in self.variables, f"missing variable {name}"
        assert "default" in self.variables[name], f"variable {name} has no default"
        return unquote(self.variables[name]["default"])


@lru_cache(maxsize=1)
def tf() -> Config:
    return Config()


@lru_cache(maxsize=1)
def example_tfvars() -> dict[str, Any]:
    tree = _parse(INFRA / "example.tfvars")
    return {k: unquote(v) for k, v in tree.items() if not k.startswith("__")}


# --------------------------------------------------- a small evaluator of our HCL


class Unresolvable(Exception):
    pass


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth -= 1
        elif not quoted and depth == 0 and ch == sep:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _template_parts(template: str) -> Iterator[tuple[bool, str]]:
    """Split '"a${x}b"' content into (is_expression, text) pieces, braces balanced."""
    i = 0
    while i < len(template):
        start = template.find("${", i)
        if start < 0:
            yield False, template[i:]
            return
        if start > i:
            yield False, template[i:start]
        depth, j = 0, start + 1
        while j < len(template):
            if template[j] == "{":
                depth += 1
            elif template[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        yield True, template[start + 2 : j]
        i = j + 1


class Evaluator:
    """Evaluates the expression forms our Terraform uses, under given variables."""

    FOR_FILTER = re.compile(
        r"^\{\s*for\s+(\w+)\s*,\s*(\w+)\s+in\s+(\{.*\})\s*:\s*\1\s*=>\s*\2\s+if\s+\2\s*!=\s*\"\"\s*\}$",
        re.S,
    )

    def __init__(self, config: Config, overrides: dict[str, Any] | None = None) -> None:
        self.config = config
        self.vars: dict[str, Any] = {}
        for name, body in config.variables.items():
            if "default" in body:
                self.vars[name] = unquote(body["default"])
        for name, value in example_tfvars().items():
            self.vars.setdefault(name, value)  # only variables without a default
        self.vars.update(overrides or {})

    def value(self, value: Any) -> Any:
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {unquote(k): self.value(v) for k, v in value.items() if not k.startswith("__")}
        expr = expression(value)
        if expr is not None:
            return self.expr(expr)
        if isinstance(value, str) and value.startswith('"'):
            return "".join(
                str(self.expr(text)) if is_expr else text.replace('\\"', '"')
                for is_expr, text in _template_parts(value[1:-1])
            )
        return value  # a bare word such as a type constraint

    def hcl_object(self, text: str) -> Any:
        """An object or tuple literal, parsed by hcl2 and evaluated."""
        options = SerializationOptions(with_comments=False)
        return self.value(hcl2.loads(f"x = {text}\n", serialization_options=options)["x"])

    def expr(self, expr: str) -> Any:
        expr = expr.strip()
        if re.fullmatch(r'"[^"$]*"', expr):
            return expr[1:-1]
        if m := re.fullmatch(r"var\.(\w+)", expr):
            if m.group(1) not in self.vars:
                raise Unresolvable(expr)
            return self.vars[m.group(1)]
        if m := re.fullmatch(r"local\.(\w+)((?:\.\w+)*)", expr):
            if m.group(1) not in self.config.locals:
                raise Unresolvable(expr)
            result = self.value(self.config.locals[m.group(1)])
            for attr in filter(None, m.group(2).split(".")):
                result = result[attr]
            return result
        if m := re.fullmatch(r"(google_\w+)\.(\w+)\.(name|secret_id|account_id)", expr):
            rtype, rname, attr = m.groups()
            body = self.config.resources.get((rtype, rname))
            if body is None or attr not in body:
                raise Unresolvable(expr)
            return self.value(body[attr])
        if m := re.fullmatch(r"join\((.*)\)", expr, re.S):
            separator, items = _split_top_level(m.group(1))
            return str(self.expr(separator)).join(str(i) for i in self.hcl_object(items))
        if m := re.fullmatch(r"tostring\((.*)\)", expr, re.S):
            return str(self.expr(m.group(1)))
        if m := re.fullmatch(r"(merge|jsonencode|base64encode|toset)\((.*)\)", expr, re.S):
            func, args = m.group(1), _split_top_level(m.group(2))
            if func == "merge":
                merged: dict[str, Any] = {}
                for arg in args:
                    merged.update(self.expr(arg))
                return merged
            (arg,) = args
            inner = self.hcl_object(arg) if arg[0] in "{[" else self.expr(arg)
            if func == "jsonencode":
                return json.dumps(inner, separators=(",", ":"))
            if func == "base64encode":
                return base64.b64encode(str(inner).encode()).decode()
            return set(inner)
        if m := re.fullmatch(r'(var\.\w+)\s*==\s*"([^"]*)"\s*\?\s*"([^"]*)"\s*:\s*"([^"]*)"', expr):
            test, equal, then, otherwise = m.groups()
            return then if self.expr(test) == equal else otherwise
        if m := self.FOR_FILTER.fullmatch(expr):
            source = self.hcl_object(m.group(3))
            return {k: v for k, v in source.items() if v != ""}
        if expr[:1] in ("{", "["):
            return self.hcl_object(expr)
        raise Unresolvable(expr)


# --------------------------------------------------------------- code under test


def env_aliases(field: Any) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [c for c in alias.choices if isinstance(c, str)]
    return []


def is_secret(field: Any) -> bool:
    def contains(annotation: Any) -> bool:
        return annotation is SecretStr or any(contains(a) for a in typing.get_args(annotation))

    return contains(field.annotation)


# The client-key secret: the one secret setting Terraform generates (for api).
CLIENT_KEY_ENV = "PLOTBURN_CLIENT_KEY_SECRET"
# Read by functions-framework, not by Settings: gunicorn's threads per worker.
FRAMEWORK_ENV = {"THREADS"}

SETTINGS_FIELDS = Settings.model_fields
ALL_ALIASES = {alias for f in SETTINGS_FIELDS.values() for alias in env_aliases(f)} | {
    CLIENT_KEY_ENV
}
SECRET_VARS = {a for f in SETTINGS_FIELDS.values() if is_secret(f) for a in env_aliases(f)} | {
    CLIENT_KEY_ENV
}


def function_env(name: str, **overrides: Any) -> dict[str, str]:
    """The plain environment_variables of one function, evaluated."""
    body = block(tf().resource("google_cloudfunctions2_function", name), "service_config")
    env = Evaluator(tf(), overrides).value(body["environment_variables"])
    assert isinstance(env, dict), f"{name}: environment_variables is not a map: {env!r}"
    return env


def function_secret_env(name: str, **overrides: Any) -> dict[str, dict[str, Any]]:
    """A function's secret environment variables by name, under the given variables."""
    body = block(tf().resource("google_cloudfunctions2_function", name), "service_config")
    out: dict[str, dict[str, Any]] = {}
    evaluate = Evaluator(tf(), overrides)
    for item in blocks(body, "secret_environment_variables"):
        key = evaluate.value(item["key"])
        assert key not in out, f"{name}: secret env {key} mounted twice"
        out[key] = item
    return out


def secret_ref(item: dict[str, Any]) -> str:
    """Which local.secrets entry a secret_environment_variables block mounts."""
    m = re.fullmatch(
        r'google_secret_manager_secret\.plotburn\["(\w+)"\]\.secret_id',
        expression(item["secret"]) or "",
    )
    assert m, (
        f"secret must reference google_secret_manager_secret.plotburn[KEY]: {item['secret']!r}"
    )
    return m.group(1)


# ========================================================================= tests


def test_every_tf_file_parses_and_declares_the_expected_parts() -> None:
    names = {p.name for p in tf().files}
    expected = {
        "apis.tf", "firestore.tf", "functions.tf", "iam.tf", "main.tf", "outputs.tf",
        "pubsub.tf", "scheduler.tf", "secrets.tf", "storage.tf", "variables.tf", "versions.tf",
    }  # fmt: skip
    assert expected <= names, f"missing: {sorted(expected - names)}"
    assert set(tf().of_type("google_cloudfunctions2_function")) == set(FUNCTIONS)


def test_topic_names_equal_the_settings_defaults() -> None:
    ev = Evaluator(tf())
    for var, field, resource in (
        ("nightly_topic", "nightly_topic", "nightly"),
        ("roast_topic", "roast_topic", "roast"),
        ("dead_letter_topic", "dead_letter_topic", "dead_letter"),
    ):
        default = SETTINGS_FIELDS[field].default
        assert tf().default(var) == default, f"var.{var} default != Settings.{field} default"
        topic = tf().resource("google_pubsub_topic", resource)
        assert ev.value(topic["name"]) == default


def test_model_and_cache_defaults_equal_the_code() -> None:
    assert tf().default("xai_model") == DEFAULT_XAI_MODEL == SETTINGS_FIELDS["xai_model"].default
    assert tf().default("perplexity_model") == SETTINGS_FIELDS["perplexity_model"].default
    assert tf().default("cache_version") == SETTINGS_FIELDS["cache_version"].default
    assert (
        tf().default("tmdb_region") == "IN" == SETTINGS_FIELDS["tmdb_region"].default
    )  # the Worker's
    assert tf().default("runtime") == "python312"
    assert tf().default("region") == "asia-south1"
    assert tf().default("firestore_location") == "asia-south1"


def test_entry_points_are_api_fanout_roast_and_exist_in_main_py() -> None:
    entry_points = {}
    for name, body in tf().of_type("google_cloudfunctions2_function").items():
        build = block(body, "build_config")
        entry_points[name] = unquote(build["entry_point"])
        assert unquote(body["name"]) == name
        assert expression(build["runtime"]) == "var.runtime"
    assert entry_points == {"api": "api", "fanout": "fanout", "roast": "roast"}

    if not MAIN_PY.exists():
        pytest.skip("main.py not written yet (the lead adds it)")
    tree = ast.parse(MAIN_PY.read_text(encoding="utf-8"))
    defined = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    missing = set(entry_points.values()) - set(defined)
    assert not missing, f"main.py does not define {sorted(missing)}"

    # fanout and roast have no event_trigger: Pub/Sub pushes to them over HTTP and
    # functions-framework builds the CloudEvent only for functions registered as
    # cloud_event functions; api must be an HTTP function.
    def decorators(node: ast.FunctionDef) -> set[str]:
        names = set()
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            names.add(
                target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            )
        return names

    assert "http" in decorators(defined["api"])
    assert "cloud_event" in decorators(defined["fanout"])
    assert "cloud_event" in decorators(defined["roast"])
    for name in FUNCTIONS:
        body = tf().resource("google_cloudfunctions2_function", name)
        assert "event_trigger" not in body, f"{name}: delivery is by declared push subscriptions"


def test_scheduler_sends_a_scheduled_nightly_message_at_22_ist() -> None:
    jobs = tf().of_type("google_cloud_scheduler_job")
    assert list(jobs) == ["nightly"]
    job = jobs["nightly"]
    ev = Evaluator(tf())
    assert ev.value(job["schedule"]) == "0 22 * * *"
    assert ev.value(job["time_zone"]) == "Asia/Kolkata"

    target = block(job, "pubsub_target")
    assert expression(target["topic_name"]) == "google_pubsub_topic.nightly.id"
    data = ev.value(target["data"])
    message = NightlyMessage.model_validate_json(base64.b64decode(data, validate=True))
    assert message.trigger is Trigger.SCHEDULED
    assert message.correlation_id is None  # derived from the publish time, per run

    retry = block(job, "retry_config")
    assert int(retry["retry_count"]) >= 1
    assert {"min_backoff_duration", "max_backoff_duration"} <= set(retry)


def test_manual_run_command_publishes_a_valid_nightly_message() -> None:
    command = Evaluator(tf()).value(tf().outputs["manual_run_command"]["value"])
    assert command.startswith(
        f"gcloud pubsub topics publish {SETTINGS_FIELDS['nightly_topic'].default} "
    )
    assert "--project=my-gcp-project" in command  # from example.tfvars
    m = re.search(r"--message='([^']*)'", command)
    assert m, command
    assert NightlyMessage.model_validate_json(m.group(1)).trigger in set(Trigger)


def test_ttl_policies_are_exactly_the_expiring_collections() -> None:
    fields = tf().of_type("google_firestore_field")
    with_ttl = {name: body for name, body in fields.items() if "ttl_config" in body}
    assert list(with_ttl) == ["ttl"], "one for_each resource carries every TTL policy"
    ttl = with_ttl["ttl"]
    ev = Evaluator(tf())
    assert ev.value(ttl["field"]) == collections.EXPIRE_AT_FIELD
    assert expression(ttl["collection"]) == "each.value"
    assert ev.value(ttl["for_each"]) == set(collections.EXPIRING_COLLECTIONS)
    assert block(ttl, "ttl_config") == {"__is_block__": True}  # empty: TTL on
    # The TTL timestamp is not indexed either (monotonic values hotspot).
    assert block(ttl, "index_config") == {"__is_block__": True}
    assert expression(ttl["database"]) == "google_firestore_database.default.name"


def test_firestore_database_is_protected_native_default() -> None:
    db = tf().resource("google_firestore_database", "default")
    assert unquote(db["name"]) == "(default)"
    assert unquote(db["type"]) == "FIRESTORE_NATIVE"
    assert expression(db["location_id"]) == "var.firestore_location"
    assert unquote(db["delete_protection_state"]) == "DELETE_PROTECTION_ENABLED"
    assert unquote(db["deletion_policy"]) == "ABANDON"


# ---------------------------------------------------------- Firestore queries


def _collection_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and hasattr(collections, node.attr):
        value = getattr(collections, node.attr)
        return value if isinstance(value, str) else None
    return None


def _firestore_queries() -> list[dict[str, Any]]:
    """Every query chain in functions/: its collection and the fields it touches."""
    queries = []
    for path in sorted(FUNCTIONS_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inner: set[int] = set()
        chains = []
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            chain, cur = [], node
            while isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute):
                chain.append(cur)
                cur = cur.func.value
                if isinstance(cur, ast.Call):
                    inner.add(id(cur))
            if chain:
                chains.append((node, list(reversed(chain)), path))
        for root, chain, path in chains:
            if id(root) in inner:
                continue
            query: dict[str, Any] = {
                "where": f"{path.relative_to(ROOT)}:{root.lineno}",
                "collection": None,
                "group": False,
                "equality": set(),
                "range": set(),
                "order": {},
            }
            for call in chain:
                method = call.func.attr  # type: ignore[union-attr]
                if method in ("collection", "collection_group") and call.args:
                    query["collection"] = _collection_name(call.args[0])
                    query["group"] = method == "collection_group"
                    query["equality"], query["range"], query["order"] = set(), set(), {}
                elif method == "where":
                    filt = next((k.value for k in call.keywords if k.arg == "filter"), None)
                    args = filt.args if isinstance(filt, ast.Call) else call.args
                    if len(args) >= 2 and isinstance(args[0], ast.Constant):
                        op = args[1].value if isinstance(args[1], ast.Constant) else "?"
                        kind = "equality" if op in ("==", "in", "array_contains") else "range"
                        query[kind].add(args[0].value)
                elif method == "order_by" and call.args and isinstance(call.args[0], ast.Constant):
                    direction = next((k.value for k in call.keywords if k.arg == "direction"), None)
                    descending = (
                        isinstance(direction, ast.Attribute) and direction.attr == "DESCENDING"
                    )
                    query["order"][call.args[0].value] = "DESCENDING" if descending else "ASCENDING"
            if query["equality"] or query["range"] or query["order"]:
                queries.append(query)
    return queries


def _composite_indexes() -> dict[str, dict[str, Any]]:
    out = {}
    for name, body in tf().of_type("google_firestore_index").items():
        out[name] = {
            "collection": unquote(body["collection"]),
            "scope": unquote(body.get("query_scope", '"COLLECTION"')),
            "fields": {
                unquote(f["field_path"]): unquote(f["order"]) for f in blocks(body, "fields")
            },
        }
    return out


def test_the_store_has_queries_to_check() -> None:
    queries = _firestore_queries()
    touched = {
        (q["collection"], f) for q in queries for f in q["equality"] | q["range"] | set(q["order"])
    }
    # The sweep and the per-run log view: if these vanish the scanner is broken.
    assert ("runs", "status") in touched and ("logs", "correlation_id") in touched, touched


def test_composite_indexes_are_exactly_those_the_queries_need() -> None:
    needed = []
    for q in _firestore_queries():
        fields = q["equality"] | q["range"] | set(q["order"])
        if len(fields) > 1 and (q["range"] or q["order"]):
            assert not q["group"], (
                f"{q['where']}: collection-group query needs a COLLECTION_GROUP index"
            )
            assert q["collection"], f"{q['where']}: cannot tell which collection this query reads"
            needed.append(q)
    indexes = _composite_indexes()
    for q in needed:
        fields = q["equality"] | q["range"] | set(q["order"])
        match = [
            name
            for name, idx in indexes.items()
            if idx["collection"] == q["collection"]
            and idx["scope"] == "COLLECTION"
            and set(idx["fields"]) == fields
            and all(idx["fields"][f] == d for f, d in q["order"].items())
        ]
        assert match, f"{q['where']}: no composite index on {q['collection']} {sorted(fields)}"
    used = {
        name
        for name, idx in indexes.items()
        for q in needed
        if idx["collection"] == q["collection"]
        and set(idx["fields"]) == q["equality"] | q["range"] | set(q["order"])
    }
    assert used == set(indexes), f"composite indexes no query needs: {sorted(set(indexes) - used)}"
    assert len(indexes) >= 2


def test_index_exemptions_are_never_queried() -> None:
    ev = Evaluator(tf())
    exempt = {
        (e["collection"], e["field"]) for e in ev.value(tf().locals["index_exemptions"]).values()
    }
    exempt |= {(c, collections.EXPIRE_AT_FIELD) for c in collections.EXPIRING_COLLECTIONS}
    assert ("roasts", "roast") in exempt and ("runs", "movie_ids") in exempt
    unindexed = tf().resource("google_firestore_field", "unindexed")
    assert block(unindexed, "index_config") == {"__is_block__": True}
    assert expression(unindexed["for_each"]) == "local.index_exemptions"
    for q in _firestore_queries():
        for field in q["equality"] | q["range"] | set(q["order"]):
            hit = [(c, f) for c, f in exempt if f == field and (q["collection"] in (c, None))]
            assert not hit, (
                f"{q['where']} queries {field}, which infra/firestore.tf leaves unindexed"
            )


# ---------------------------------------------------------------- settings/env


def test_every_env_key_terraform_sets_is_read_by_settings() -> None:
    for name in FUNCTIONS:
        keys = set(function_env(name, tmdb_region="IN")) | set(function_secret_env(name))
        unknown = keys - ALL_ALIASES - FRAMEWORK_ENV
        assert not unknown, f"{name} sets variables Settings never reads: {sorted(unknown)}"


def test_every_setting_is_set_by_terraform_or_has_a_default() -> None:
    for name in FUNCTIONS:
        provided = set(function_env(name)) | set(function_secret_env(name))
        for field_name, field in SETTINGS_FIELDS.items():
            aliases = set(env_aliases(field))
            assert aliases, f"Settings.{field_name} has no environment variable alias"
            if field.is_required():
                assert aliases & provided, f"{name} does not set required {sorted(aliases)}"
            if field_name in MUST_SET_IN_CLOUD:
                assert aliases & set(function_env(name)), f"{name} must set {sorted(aliases)}"


def test_tmdb_region_is_set_only_when_given() -> None:
    for name in FUNCTIONS:
        assert function_env(name)["TMDB_REGION"] == "IN"  # the default
        assert "TMDB_REGION" not in function_env(name, tmdb_region="")  # the code's default
        assert function_env(name, tmdb_region="GB")["TMDB_REGION"] == "GB"


def test_the_deployed_environment_validates_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in FUNCTIONS:
        for alias in ALL_ALIASES:
            monkeypatch.delenv(alias, raising=False)
        env = function_env(name, tmdb_region="IN")
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        for key in function_secret_env(name):
            monkeypatch.setenv(key, "dummy-not-a-secret")
        settings = Settings()
        assert settings.project == "my-gcp-project"
        assert settings.nightly_topic == SETTINGS_FIELDS["nightly_topic"].default
        assert settings.roast_topic == SETTINGS_FIELDS["roast_topic"].default
        assert settings.dead_letter_topic == SETTINGS_FIELDS["dead_letter_topic"].default
        assert settings.tmdb_region == "IN"
        assert settings.xai_model == DEFAULT_XAI_MODEL


# The one TMDB secret reaches the functions under the variable of its credential kind.
TMDB_SECRET_ENV = {"read_token": "TMDB_API_TOKEN", "v3_key": "TMDB_API_KEY"}


@pytest.mark.parametrize("credential", sorted(TMDB_SECRET_ENV))
def test_secrets_come_only_from_secret_manager(credential: str) -> None:
    assert {
        "TMDB_API_TOKEN",
        "TMDB_API_KEY",
        "PERPLEXITY_API_KEY",
        "XAI_API_KEY",
        "PLOTBURN_ADMIN_TOKEN",
        CLIENT_KEY_ENV,
    } == SECRET_VARS
    secrets = Evaluator(tf()).value(tf().locals["secrets"])
    assert set(secrets) == SECRET_VARS - {"TMDB_API_KEY"}
    assert all(re.fullmatch(r"plotburn-[a-z0-9-]+", v) for v in secrets.values()), secrets
    secret_res = tf().resource("google_secret_manager_secret", "plotburn")
    assert expression(secret_res["for_each"]) == "local.secrets"
    assert block(block(secret_res, "replication"), "auto") == {"__is_block__": True}

    tmdb_env = TMDB_SECRET_ENV[credential]
    mounted: set[str] = set()
    for name in FUNCTIONS:
        plain = set(function_env(name, tmdb_region="IN"))
        assert not plain & SECRET_VARS, f"{name} passes a secret as a plain variable"
        for key, item in function_secret_env(name, tmdb_credential=credential).items():
            assert key in SECRET_VARS, f"{name}: {key} is not a secret setting"
            wanted = "TMDB_API_TOKEN" if key == tmdb_env else key
            assert secret_ref(item) == wanted, f"{name}: {key} mounts the wrong secret"
            assert unquote(item["version"]) == "latest"
            assert expression(item["project_id"]) == "var.project_id"
            mounted.add(key)
    assert mounted == {
        tmdb_env,
        "PERPLEXITY_API_KEY",
        "XAI_API_KEY",
        "PLOTBURN_ADMIN_TOKEN",
        CLIENT_KEY_ENV,
    }


def test_secret_values_are_nowhere_in_terraform() -> None:
    # The one secret value Terraform holds is the client key it generates itself.
    versions = tf().of_type("google_secret_manager_secret_version")
    assert set(versions) == {"client_key"}, sorted(versions)
    for filename, text in tf().text.items():
        for word in ("secret_string", "sensitive"):
            assert word not in text, f"{filename} mentions {word}"
        mentions = len(re.findall(r"\bsecret_data\b", text))
        assert mentions == (1 if filename == "secrets.tf" else 0), (filename, mentions)
    for name, out in tf().outputs.items():
        value = json.dumps(out["value"])
        assert "secret_version" not in value and "secret_data" not in value, name
    tfvars = example_tfvars()
    assert not {k for k in tfvars if re.search(r"token|key|secret|password", k, re.I)}, tfvars


def test_each_function_reads_only_its_secrets_and_is_granted_exactly_them() -> None:
    access = Evaluator(tf()).value(tf().locals["secret_access"])
    assert {k: set(v) for k, v in access.items()} == {
        "api": {
            "PLOTBURN_ADMIN_TOKEN",
            "TMDB_API_TOKEN",
            "PERPLEXITY_API_KEY",
            "XAI_API_KEY",
            CLIENT_KEY_ENV,
        },
        "fanout": {"TMDB_API_TOKEN"},
        "roast": {"TMDB_API_TOKEN", "PERPLEXITY_API_KEY", "XAI_API_KEY"},
    }
    for name in FUNCTIONS:
        assert set(function_secret_env(name)) == set(access[name]), name
    grants = tf().resource("google_secret_manager_secret_iam_member", "access")
    assert expression(grants["for_each"]) == "local.secret_grants"
    assert "local.secret_access" in tf().locals["secret_grants"]
    assert unquote(grants["role"]) == "roles/secretmanager.secretAccessor"
    assert expression(grants["member"]) == "local.runtime_members[each.value.fn]"
    assert len(tf().of_type("google_secret_manager_secret_iam_member")) == 1


# ------------------------------------------------------------------------ IAM


def _all_roles(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "role":
                yield unquote(value)
            else:
                yield from _all_roles(value)
    elif isinstance(node, list):
        for item in node:
            yield from _all_roles(item)


def _member_of(body: dict[str, Any]) -> str:
    """A member reference reduced to the identity's short name."""
    raw = json.dumps(body["member"])
    for sa in ("api", "fanout", "roast", "push", "build"):
        if f"runtime_members.{sa}" in raw or f"google_service_account.{sa}." in raw:
            return sa
    if "pubsub_service_agent" in raw:
        return "pubsub-agent"
    if unquote(body["member"]) in ("allUsers", "allAuthenticatedUsers"):
        return unquote(body["member"])
    if expression(body["member"]) == "each.value":
        return "for_each"
    raise AssertionError(f"unrecognised member {body['member']!r}")


def test_no_role_is_broader_than_needed() -> None:
    roles = set(_all_roles(list(tf().resources.values())))
    assert {"roles/pubsub.publisher", "roles/run.invoker", "roles/datastore.user"} <= roles
    for role in roles:
        assert role not in ("roles/owner", "roles/editor", "roles/viewer"), role
        assert not re.search(r"admin", role, re.I), f"admin role granted: {role}"
    for authoritative in ("google_project_iam_binding", "google_project_iam_policy"):
        assert not tf().of_type(authoritative), (
            f"{authoritative} would clobber the project's policy"
        )


def test_project_level_grants_are_only_firestore_and_build() -> None:
    grants = tf().of_type("google_project_iam_member")
    assert grants, "the runtimes need roles/datastore.user"
    for name, body in grants.items():
        role = unquote(body["role"])
        assert role in PROJECT_ROLES, f"project-level {role} ({name})"
        member = _member_of(body)
        if role == "roles/datastore.user":
            assert member == "for_each" and expression(body["for_each"]) == "local.runtime_members"
        if role == "roles/run.builder":
            assert member == "build"
    # datastore.user goes to the three runtimes, nothing else
    assert set(tf().locals["runtime_members"]) == set(FUNCTIONS)
    roles = {unquote(b["role"]) for b in grants.values()}
    assert roles == {"roles/datastore.user", "roles/run.builder"}, roles


def test_publishers_are_least_privilege() -> None:
    publishers: dict[str, set[str]] = {}
    for name, body in tf().of_type("google_pubsub_topic_iam_member").items():
        assert unquote(body["role"]) == "roles/pubsub.publisher", name
        m = re.fullmatch(r"google_pubsub_topic\.(\w+)\.id", expression(body["topic"]) or "")
        assert m, f"{name}: topic must reference a google_pubsub_topic"
        publishers.setdefault(_member_of(body), set()).add(m.group(1))
    assert publishers == {
        "api": {"nightly", "roast"},
        "fanout": {"roast"},
        "pubsub-agent": {"dead_letter"},
    }
    assert "roast" not in publishers
    # and not through any other resource type either
    for (rtype, name), body in tf().resources.items():
        if "pubsub.publisher" in json.dumps(body) and rtype != "google_pubsub_topic_iam_member":
            raise AssertionError(f"publisher granted by {rtype}.{name}")


def test_each_function_runs_as_its_own_service_account() -> None:
    accounts = tf().of_type("google_service_account")
    assert set(accounts) == {"api", "fanout", "roast", "push", "build"}
    ids = [unquote(a["account_id"]) for a in accounts.values()]
    assert len(set(ids)) == len(ids) and all(6 <= len(i) <= 30 for i in ids), ids
    for name in FUNCTIONS:
        body = tf().resource("google_cloudfunctions2_function", name)
        service = block(body, "service_config")
        assert (
            expression(service["service_account_email"]) == f"google_service_account.{name}.email"
        )
        assert (
            expression(block(body, "build_config")["service_account"])
            == "google_service_account.build.id"
        )


def test_only_api_is_public_and_only_push_invokes_the_workers() -> None:
    invokers: dict[str, set[str]] = {}
    for name, body in tf().of_type("google_cloud_run_v2_service_iam_member").items():
        assert unquote(body["role"]) == "roles/run.invoker", name
        m = re.fullmatch(
            r"google_cloudfunctions2_function\.(\w+)\.name", expression(body["name"]) or ""
        )
        assert m, name
        invokers.setdefault(m.group(1), set()).add(_member_of(body))
    assert invokers == {"api": {"allUsers"}, "fanout": {"push"}, "roast": {"push"}}
    for rtype in (
        "google_cloudfunctions2_function_iam_member",
        "google_cloud_run_service_iam_member",
    ):
        assert not tf().of_type(rtype), f"{rtype}: grant invokers in one place"
    api = block(tf().resource("google_cloudfunctions2_function", "api"), "service_config")
    assert unquote(api["ingress_settings"]) == "ALLOW_ALL"
    # Pub/Sub of the same project is internal traffic to Cloud Run; an operator can
    # revert with worker_ingress = "ALLOW_ALL".
    assert tf().default("worker_ingress") == "ALLOW_INTERNAL_ONLY"
    validation = block(tf().variables["worker_ingress"], "validation")
    assert (
        "ALLOW_ALL" in validation["condition"] and "ALLOW_INTERNAL_ONLY" in validation["condition"]
    )
    for name in ("fanout", "roast"):
        service = block(tf().resource("google_cloudfunctions2_function", name), "service_config")
        assert expression(service["ingress_settings"]) == "var.worker_ingress"


def _depends_on(body: dict[str, Any]) -> set[str]:
    return {expression(d) or unquote(d) for d in body.get("depends_on", [])}


def _references(body: dict[str, Any], rtype: str) -> bool:
    return f"{rtype}." in json.dumps(body)


def test_every_function_waits_for_every_grant_to_propagate() -> None:
    wait = tf().resource("time_sleep", "iam_propagation")
    seconds = int(str(Evaluator(tf()).value(wait["create_duration"])).rstrip("s"))
    assert 60 <= seconds <= 300, seconds
    assert "time_sleep.iam_propagation" not in json.dumps(wait)
    # Every grant that can exist before the functions (it references no function
    # and no subscription, which need the functions) is waited for.
    grants = {
        f"{rtype}.{name}"
        for (rtype, name), body in tf().resources.items()
        if rtype.endswith(("_iam_member", "_iam_binding"))
        and not _references(body, "google_cloudfunctions2_function")
        and not _references(body, "google_pubsub_subscription")
    }
    assert {
        "google_project_iam_member.build",
        "google_project_iam_member.datastore_user",
        "google_secret_manager_secret_iam_member.access",
    } <= grants
    assert _depends_on(wait) == grants, sorted(_depends_on(wait) ^ grants)
    for name in FUNCTIONS:
        body = tf().resource("google_cloudfunctions2_function", name)
        assert "time_sleep.iam_propagation" in _depends_on(body), name
    text = tf().text["versions.tf"]
    assert re.search(r'time\s*=\s*\{\s*source\s*=\s*"hashicorp/time"', text)


def test_the_client_key_is_generated_stored_and_read_only_by_api() -> None:
    secrets = Evaluator(tf()).value(tf().locals["secrets"])
    assert secrets[CLIENT_KEY_ENV] == "plotburn-client-key"
    password = tf().resource("random_password", "client_key")
    assert int(password["length"]) >= 32
    version = tf().resource("google_secret_manager_secret_version", "client_key")
    assert (
        expression(version["secret"])
        == f'google_secret_manager_secret.plotburn["{CLIENT_KEY_ENV}"].id'
    )
    assert expression(version["secret_data"]) == "random_password.client_key.result"
    mounted = function_secret_env("api")[CLIENT_KEY_ENV]
    assert secret_ref(mounted) == CLIENT_KEY_ENV and unquote(mounted["version"]) == "latest"
    # api starts only once the secret has a version to read.
    api = tf().resource("google_cloudfunctions2_function", "api")
    assert "google_secret_manager_secret_version.client_key" in _depends_on(api)
    for name in ("fanout", "roast"):
        assert CLIENT_KEY_ENV not in function_secret_env(name), name
    access = Evaluator(tf()).value(tf().locals["secret_access"])
    assert [fn for fn, keys in access.items() if CLIENT_KEY_ENV in keys] == ["api"]
    text = tf().text["versions.tf"]
    assert re.search(r'random\s*=\s*\{\s*source\s*=\s*"hashicorp/random"', text)


# ------------------------------------------------------------ scaling/timeouts


def test_roast_scales_to_the_upstream_rate_limit_one_movie_per_instance() -> None:
    service = block(tf().resource("google_cloudfunctions2_function", "roast"), "service_config")
    assert expression(service["max_instance_count"]) == "var.roast_concurrency"
    assert service["max_instance_request_concurrency"] == 1
    assert tf().default("roast_concurrency") == 50
    for name in ("fanout", "roast"):
        service = block(tf().resource("google_cloudfunctions2_function", name), "service_config")
        assert service["min_instance_count"] == 0, name
    api = block(tf().resource("google_cloudfunctions2_function", "api"), "service_config")
    assert expression(api["min_instance_count"]) == "var.api_min_instances"
    assert tf().default("api_min_instances") == 0
    assert expression(api["max_instance_count"]) == "var.api_max_instances"
    assert Evaluator(tf()).value(api["max_instance_count"]) == 10


def test_api_serves_many_requests_per_instance_on_as_many_threads() -> None:
    api = block(tf().resource("google_cloudfunctions2_function", "api"), "service_config")
    assert expression(api["max_instance_request_concurrency"]) == "var.api_concurrency"
    concurrency = tf().default("api_concurrency")
    assert 1 < concurrency <= 1000, concurrency
    # Cloud Run allows concurrency above 1 only with at least one whole vCPU.
    assert unquote(api["available_cpu"]) == "1"
    # functions-framework runs one gunicorn worker with THREADS threads (default
    # 4 per CPU): as many threads as requests Cloud Run may send at once.
    env = function_env("api")
    assert env["THREADS"] == str(concurrency)
    assert function_env("api", api_concurrency=80)["THREADS"] == "80"
    for name in ("fanout", "roast"):
        assert "THREADS" not in function_env(name), name
        service = block(tf().resource("google_cloudfunctions2_function", name), "service_config")
        assert service["max_instance_request_concurrency"] == 1, name


def _timeout(name: str) -> int:
    service = block(tf().resource("google_cloudfunctions2_function", name), "service_config")
    return int(Evaluator(tf()).value(service["timeout_seconds"]))


def test_timeouts_fit_the_platform_limits() -> None:
    assert _timeout("api") == 60
    for name in ("fanout", "roast"):
        assert 60 <= _timeout(name) <= MAX_EVENT_TIMEOUT, name


def _ack_deadline(body: dict[str, Any]) -> int:
    expr = expression(body["ack_deadline_seconds"])
    assert expr, body["ack_deadline_seconds"]
    ev = Evaluator(tf())
    return sum(int(ev.expr(term)) for term in expr.split("+"))


# ------------------------------------------------------------------- Pub/Sub


SUBSCRIPTIONS = {  # subscription -> (topic, function it pushes to, dead-letters?)
    "fanout": ("nightly", "fanout", True),
    "roast": ("roast", "roast", True),
    "dead_letter": ("dead_letter", "roast", False),
}


def test_push_subscriptions_deliver_each_topic_to_its_function() -> None:
    subs = tf().of_type("google_pubsub_subscription")
    assert set(subs) == set(SUBSCRIPTIONS)
    for name, (topic, function, _) in SUBSCRIPTIONS.items():
        body = subs[name]
        assert expression(body["topic"]) == f"google_pubsub_topic.{topic}.id", name
        push = block(body, "push_config")
        uri = f"google_cloudfunctions2_function.{function}.service_config[0].uri"
        assert (
            unquote(push["push_endpoint"]) == f"${{{uri}}}/${{google_pubsub_topic.{topic}.id}}"
        ), name
        oidc = block(push, "oidc_token")
        assert expression(oidc["service_account_email"]) == "google_service_account.push.email"
        assert expression(oidc["audience"]) == uri
        deadline = _ack_deadline(body)
        assert _timeout(function) <= deadline <= MAX_ACK_DEADLINE, (name, deadline)
        assert unquote(block(body, "expiration_policy")["ttl"]) == "", (
            f"{name} would expire when idle"
        )
        retry = block(body, "retry_policy")
        assert unquote(retry["minimum_backoff"]).endswith("s") and unquote(
            retry["maximum_backoff"]
        ).endswith("s")


def test_source_subscriptions_dead_letter_after_a_variable_number_of_attempts() -> None:
    assert 5 <= tf().default("max_delivery_attempts") <= 100
    assert tf().default("max_delivery_attempts") == 5
    subs = tf().of_type("google_pubsub_subscription")
    for name, (_, _, dead_letters) in SUBSCRIPTIONS.items():
        body = subs[name]
        if not dead_letters:
            assert "dead_letter_policy" not in body, f"{name} must not dead-letter into itself"
            continue
        policy = block(body, "dead_letter_policy")
        assert expression(policy["dead_letter_topic"]) == "google_pubsub_topic.dead_letter.id"
        assert expression(policy["max_delivery_attempts"]) == "var.max_delivery_attempts"
        assert "retry_policy" in body


def _seconds(duration: str) -> int:
    assert re.fullmatch(r"\d+s", duration), duration
    return int(duration[:-1])


def test_the_dead_letter_subscription_gives_up_after_a_day() -> None:
    body = tf().resource("google_pubsub_subscription", "dead_letter")
    retention = _seconds(Evaluator(tf()).value(body["message_retention_duration"]))
    # Long enough to ride out an outage and page someone (monitoring.tf); far
    # shorter than Pub/Sub's seven-day default; at least Pub/Sub's 10 min minimum.
    assert 6 * 3600 <= retention <= 2 * 86400, retention
    retry = block(body, "retry_policy")
    assert _seconds(unquote(retry["maximum_backoff"])) <= 600
    for name in ("fanout", "roast"):  # the source subscriptions dead-letter instead
        assert "message_retention_duration" not in tf().resource(
            "google_pubsub_subscription", name
        ), name


def test_pubsub_agent_can_dead_letter_and_sign_push_tokens() -> None:
    acks = {
        expression(b["subscription"]): unquote(b["role"])
        for b in tf().of_type("google_pubsub_subscription_iam_member").values()
        if _member_of(b) == "pubsub-agent"
    }
    assert acks == {
        "google_pubsub_subscription.fanout.id": "roles/pubsub.subscriber",
        "google_pubsub_subscription.roast.id": "roles/pubsub.subscriber",
    }
    minted = [
        b
        for b in tf().of_type("google_service_account_iam_member").values()
        if _member_of(b) == "pubsub-agent"
    ]
    assert len(minted) == 1
    assert unquote(minted[0]["role"]) == "roles/iam.serviceAccountTokenCreator"
    assert expression(minted[0]["service_account_id"]) == "google_service_account.push.name"
    agent = tf().locals["pubsub_service_agent"]
    assert (
        "@gcp-sa-pubsub.iam.gserviceaccount.com" in agent
        and "data.google_project.this.number" in agent
    )


# ----------------------------------------------------------- source, APIs, fmt


def _terraform() -> str | None:
    return shutil.which("terraform") or (
        "/usr/local/bin/terraform" if Path("/usr/local/bin/terraform").exists() else None
    )


# What the functions run: every file of the deployed archive is one of these.
RUNTIME_TOP_LEVEL = {"main.py", "requirements.txt"}
# Files that must never ship, however they got into the checkout.
STRAYS = (
    ".env.local",
    "key.json",
    "service-account.json",
    "venv/lib/site.py",
    ".venv/bin/activate",
    ".ruff_cache/0.1/x",
    ".mypy_cache/3.11/functions/config.data.json",
    "tests/unit/test_x.py",
    "infra/terraform.tfstate",
    "functions/__pycache__/config.cpython-312.pyc",
    "functions/config.pyc",
    "functions/.env.local",
    "functions/key.json",
)


def _source_files_expression() -> str:
    """The HCL of local.source_files and the locals it reads, as written."""
    text = tf().text["storage.tf"]
    names = ("source_root", "source_top_level", "source_patterns", "source_files")
    lines = text.splitlines()
    out = []
    for name in names:
        start = next(i for i, line in enumerate(lines) if re.match(rf"\s*{name}\s*=", line))
        depth, end = 0, start
        for end in range(start, len(lines)):
            depth += lines[end].count("(") + lines[end].count("[") + lines[end].count("{")
            depth -= lines[end].count(")") + lines[end].count("]") + lines[end].count("}")
            if depth <= 0:
                break
        out.append("\n".join(lines[start : end + 1]))
    return "locals {\n" + "\n".join(out) + "\n}\n"


def _evaluate_source_files(root: Path) -> list[str]:
    """local.source_files, evaluated by terraform itself over the tree at `root`
    (a scratch directory beside them stands for infra/). Needs no provider: only
    fileset() and friends."""
    terraform = _terraform()
    if terraform is None:
        pytest.skip("terraform binary not installed")
    probe = root / "_probe"
    probe.mkdir()
    (probe / "main.tf").write_text(_source_files_expression(), encoding="utf-8")
    result = subprocess.run(
        [terraform, "console"],
        input="jsonencode(local.source_files)\n",
        cwd=probe,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    return list(json.loads(json.loads(line)))


def test_source_archive_is_built_from_an_allowlist() -> None:
    archive = tf().data[("archive_file", "source")]
    for forbidden in ("source_dir", "excludes", "source_file", "source_content"):
        assert forbidden not in archive, f"archive_file must not use {forbidden}"
    dynamic = archive["dynamic"]
    assert len(dynamic) == 1 and set(dynamic[0]) == {'"source"'}, dynamic
    source = dynamic[0]['"source"']
    assert expression(source["for_each"]) == "local.source_files"
    content = block(source, "content")
    assert unquote(content["filename"]) == "${source.value}"
    assert unquote(content["content"]) == '${file("${local.source_root}/${source.value}")}'
    assert unquote(tf().locals["source_root"]) == "${path.module}/.."
    ev = Evaluator(tf())
    assert set(ev.value(tf().locals["source_top_level"])) == RUNTIME_TOP_LEVEL
    patterns = ev.value(tf().locals["source_patterns"])
    assert all(p.startswith("functions/") for p in patterns), patterns
    assert not any(p.endswith((".pyc", "*")) for p in patterns), patterns
    obj = tf().resource("google_storage_bucket_object", "source")
    assert "data.archive_file.source.output_md5" in unquote(obj["name"])  # new code, new object


def test_the_allowlist_is_exactly_the_runtime_files_of_this_checkout(tmp_path: Path) -> None:
    # Evaluated over the real checkout (whatever strays it holds): exactly main.py,
    # requirements.txt and the functions package's tracked files.
    tracked = subprocess.run(
        ["git", "ls-files", "functions"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    expected = sorted(RUNTIME_TOP_LEVEL | set(tracked))
    assert "functions/dashboard.html" in expected and "functions/config.py" in expected
    # The checkout as it is (strays, caches and venv included), seen from a scratch
    # directory beside links to every top-level entry.
    tree = tmp_path / "tree"
    tree.mkdir()
    for entry in ROOT.iterdir():
        (tree / entry.name).symlink_to(entry)
    shipped = _evaluate_source_files(tree)
    assert shipped == expected, sorted(set(shipped) ^ set(expected))


def test_a_stray_file_is_never_deployed(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    runtime = [*RUNTIME_TOP_LEVEL, "functions/__init__.py", "functions/store/runs.py",
               "functions/dashboard.html", "functions/openapi/__init__.py"]  # fmt: skip
    for rel in [*runtime, *STRAYS]:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("x\n", encoding="utf-8")
    shipped = _evaluate_source_files(tree)
    assert shipped == sorted(runtime), shipped
    assert not set(shipped) & set(STRAYS)


def test_the_source_bucket_deletes_old_archives() -> None:
    bucket = tf().resource("google_storage_bucket", "source")
    rules = blocks(bucket, "lifecycle_rule")
    assert len(rules) == 1
    action = block(rules[0], "action")
    assert unquote(action["type"]) == "Delete"
    age = Evaluator(tf()).value(block(rules[0], "condition")["age"])
    assert 7 <= int(age) <= 90, age
    assert "copies the archive when it builds" in tf().text["storage.tf"]


# ------------------------------------------------------------------ alerts


POLICIES = ("run_not_successful", "alert_log_line", "dead_letters_stuck", "no_successful_run")


def _condition(policy: str) -> dict[str, Any]:
    body = tf().resource("google_monitoring_alert_policy", policy)
    (condition,) = blocks(body, "conditions")
    return condition


def _policy_filter(policy: str, kind: str) -> str:
    return str(Evaluator(tf()).value(block(_condition(policy), kind)["filter"]))


def test_every_alert_emails_the_on_call_address() -> None:
    channels = tf().of_type("google_monitoring_notification_channel")
    assert list(channels) == ["email"]
    channel = channels["email"]
    assert unquote(channel["type"]) == "email"
    assert expression(channel["labels"]["email_address"]) == "var.alert_email"
    assert "default" not in tf().variables["alert_email"], "someone must be named"
    assert "@" in example_tfvars()["alert_email"]
    policies = tf().of_type("google_monitoring_alert_policy")
    assert set(policies) == set(POLICIES)
    for name, body in policies.items():
        assert [expression(c) for c in body["notification_channels"]] == [
            "google_monitoring_notification_channel.email.id"
        ], name
        assert block(body, "documentation")["content"], name
    services = Evaluator(tf()).value(tf().locals["services"])
    assert "monitoring.googleapis.com" in services and "logging.googleapis.com" in services


def _function_logs(log_filter: str) -> None:
    assert 'resource.type="cloud_run_revision"' in log_filter, log_filter
    for name in FUNCTIONS:
        assert f'"{name}"' in log_filter, (name, log_filter)


def test_a_partial_or_failed_run_pages_on_the_lines_the_code_logs() -> None:
    from functions.models import RunStatus

    runs_py = (FUNCTIONS_DIR / "usecases" / "runs.py").read_text(encoding="utf-8")
    nightly_py = (FUNCTIONS_DIR / "usecases" / "nightly.py").read_text(encoding="utf-8")
    assert 'f"run finished: {run.status.value}"' in runs_py
    assert '"run failed before fan-out"' in nightly_py
    log_filter = _policy_filter("run_not_successful", "condition_matched_log")
    _function_logs(log_filter)
    messages = set(re.findall(r'"([^"]+)"', log_filter.split("jsonPayload.message=", 1)[1]))
    assert messages == {
        f"run finished: {RunStatus.PARTIAL.value}",
        f"run finished: {RunStatus.FAILED.value}",
        "run failed before fan-out",
    }, messages
    policy = tf().resource("google_monitoring_alert_policy", "run_not_successful")
    assert block(block(policy, "alert_strategy"), "notification_rate_limit")["period"]


def test_every_alert_log_line_pages() -> None:
    observability = (FUNCTIONS_DIR / "observability.py").read_text(encoding="utf-8")
    assert '{"severity": severity, "message": message' in observability  # the JSON fields
    log_filter = _policy_filter("alert_log_line", "condition_matched_log")
    _function_logs(log_filter)
    assert re.search(r"\bseverity=ALERT\b", log_filter), log_filter
    emitted = [
        path.name
        for path in FUNCTIONS_DIR.rglob("*.py")
        if re.search(r'"ALERT",\s*\n?\s*"', path.read_text(encoding="utf-8"))
    ]
    assert emitted, "nothing logs ALERT any more: drop or change this policy"


def test_dead_letters_left_in_their_subscription_page() -> None:
    body = tf().resource("google_monitoring_alert_policy", "dead_letters_stuck")
    metrics = set()
    for condition in blocks(body, "conditions"):
        threshold = block(condition, "condition_threshold")
        text = unquote(threshold["filter"])
        assert 'resource.type=\\"pubsub_subscription\\"' in text or (
            'resource.type="pubsub_subscription"' in text
        ), text
        assert "${google_pubsub_subscription.dead_letter.name}" in text, text
        metrics |= set(re.findall(r"pubsub\.googleapis\.com/subscription/(\w+)", text))
        assert unquote(threshold["comparison"]) == "COMPARISON_GT"
    assert metrics == {"num_undelivered_messages", "oldest_unacked_message_age"}


def test_no_successful_run_in_26_hours_pages() -> None:
    from functions.models import RunStatus

    metric = tf().resource("google_logging_metric", "run_succeeded")
    log_filter = str(Evaluator(tf()).value(metric["filter"]))
    _function_logs(log_filter)
    assert f'jsonPayload.message="run finished: {RunStatus.SUCCESS.value}"' in log_filter
    descriptor = block(metric, "metric_descriptor")
    assert unquote(descriptor["metric_kind"]) == "DELTA"
    name = unquote(metric["name"])
    assert re.fullmatch(r"[a-z_]+", name), name  # PromQL name: user_<name>
    # condition_absent stops at 23.5 h (24.5 h by the API): PromQL has no such cap.
    condition = _condition("no_successful_run")
    assert "condition_absent" not in condition
    query = str(
        Evaluator(tf()).value(block(condition, "condition_prometheus_query_language")["query"])
    )
    m = re.fullmatch(
        r'absent_over_time\(logging_googleapis_com:user_(\w+)\{monitored_resource="cloud_run_revision"\}\[(\d+)h\]\)',
        query,
    )
    assert m, query
    assert m.group(1) == name
    assert int(m.group(2)) == 26


def test_required_apis_are_enabled_and_kept_on_destroy() -> None:
    services = Evaluator(tf()).value(tf().locals["services"])
    required = {
        f"{s}.googleapis.com"
        for s in (
            "cloudfunctions", "run", "cloudbuild", "eventarc", "pubsub", "firestore",
            "cloudscheduler", "secretmanager", "artifactregistry",
        )
    }  # fmt: skip
    assert required <= set(services), sorted(required - set(services))
    apis = tf().resource("google_project_service", "apis")
    assert apis["disable_on_destroy"] is False


def test_versions_pin_terraform_and_the_google_provider() -> None:
    text = tf().text["versions.tf"]
    assert re.search(r'required_version\s*=\s*">=\s*1\.5"', text)
    assert re.search(r'source\s*=\s*"hashicorp/google"\s*\n\s*version\s*=\s*"~>\s*\d+\.\d+"', text)


def test_operator_settings_reach_every_function_but_never_override_terraform() -> None:
    extra = {
        "PLOTBURN_DAILY_CALL_BUDGET": "4000",
        "PLOTBURN_PUBLIC_BUDGET_SHARE": "0.1",
        "PLOTBURN_ROAST_TOPIC": "not-the-real-topic",
    }
    for name in ("api", "fanout", "roast"):
        env = function_env(name, settings=extra)
        assert env["PLOTBURN_DAILY_CALL_BUDGET"] == "4000", name
        assert env["PLOTBURN_PUBLIC_BUDGET_SHARE"] == "0.1", name
        assert env["PLOTBURN_ROAST_TOPIC"] != "not-the-real-topic", name
        assert "PLOTBURN_DAILY_CALL_BUDGET" not in function_env(name), name
    # The variable refuses secrets and names that are not settings.
    validation = block(tf().variables["settings"], "validation")
    condition = expression(validation["condition"]) or ""
    for secret in SECRET_VARS:
        assert f'"{secret}"' in condition, f"settings would accept the secret {secret}"
    assert "^(PLOTBURN|TMDB|PERPLEXITY|XAI)_" in condition
    assert {a for a in ALL_ALIASES if a.startswith("PLOTBURN_")}, "no settings found"


def test_example_tfvars_only_sets_declared_variables() -> None:
    tfvars = example_tfvars()
    assert tfvars["project_id"] == "my-gcp-project"
    assert set(tfvars) <= set(tf().variables), sorted(set(tfvars) - set(tf().variables))
    for name, value in tfvars.items():
        if name != "project_id" and "default" in tf().variables[name]:
            assert value == tf().default(name), f"example.tfvars {name} differs from the default"


def test_terraform_fmt() -> None:
    terraform = _terraform()
    if terraform is None:
        pytest.skip("terraform binary not installed")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "infra"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"terraform fmt -check failed:\n{result.stdout}\n{result.stderr}"
