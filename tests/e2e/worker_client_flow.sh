#!/usr/bin/env bash
# The Worker's documented client flow, with curl and jq, as its front end and scripts
# ran it. Every field and type of ../shared/seed-api.md is checked with `jq -e`; the
# first mismatch prints what was wrong and exits non-zero.
#
#   API=http://127.0.0.1:PORT/ KEY=<admin token> bash tests/e2e/worker_client_flow.sh
set -euo pipefail

API="${API%/}"
: "${KEY:?KEY (the admin token) is required}"
TIMEOUT="${TIMEOUT:-120}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

say() { printf '%s\n' "$*" >&2; }

# get|post|delete PATH [extra curl args]: the body to stdout; the status to $tmp/status.
call() {
  local method="$1" path="$2"
  shift 2
  curl -sS -o "$tmp/body" -w '%{http_code}' -X "$method" -H "x-api-key: $KEY" "$@" "$API$path" >"$tmp/status"
  cat "$tmp/body"
}

expect_status() {
  local want="$1" what="$2"
  local got
  got="$(cat "$tmp/status")"
  if [ "$got" != "$want" ]; then
    say "FAIL $what: HTTP $got, expected $want: $(head -c 400 "$tmp/body")"
    exit 1
  fi
}

# check NAME JQ-PROGRAM: the program must output true for the body on stdin.
check() {
  local name="$1" program="$2"
  if ! jq -e "$program" >/dev/null; then
    say "FAIL $name: $(jq -c . "$tmp/body" | head -c 600)"
    exit 1
  fi
}

ISO='test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)$")'
DAY='test("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")'
RUN='(.timestamp | type == "string" and '"$ISO"')
  and (.trigger | IN("scheduled", "manual"))
  and (.correlation_id | type == "string")
  and (.status | IN("in_progress", "success", "partial", "failed"))
  and ([.movies_fetched, .roasts_processed, .roasts_cached, .roasts_generated, .roasts_failed]
       | all(type == "number" and . >= 0 and floor == .))
  and (.failed_movie_ids | type == "array" and all(type == "number"))
  and (.duration_ms == null or (.duration_ms | type == "number"))'

# 1. Trigger: 202 and the Worker's body; the run shows as in progress at once.
call POST /cron/trigger >/dev/null
expect_status 202 "POST /cron/trigger"
check "trigger body" '(.message | type == "string") and (.correlation_id | test("^manual-trigger-[0-9]+$"))
  and .status == "started" and .check_status_at == "/cron/status"' <"$tmp/body"
cid="$(jq -r .correlation_id "$tmp/body")"
call GET /cron/status >"$tmp/first-status"
expect_status 200 "GET /cron/status"
check "in_progress at once" '.last_run.correlation_id == "'"$cid"'" and .last_run.status == "in_progress"' <"$tmp/first-status"

# 2. Poll .last_run.status until it is no longer in_progress (the Worker's loop).
deadline=$((SECONDS + TIMEOUT))
while :; do
  status="$(call GET /cron/status | jq -r '.last_run.status')"
  [ "$status" != "in_progress" ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then say "FAIL run $cid still in_progress after ${TIMEOUT}s"; exit 1; fi
  sleep 0.5
done
call GET /cron/status >/dev/null
check "status body" '(.last_run | '"$RUN"') and (.history | type == "array" and length <= 10 and all('"$RUN"'))
  and (.total_runs | type == "number") and .last_run.correlation_id == "'"$cid"'"' <"$tmp/body"
say "run $cid: $status"

# 3. /now-playing: the Worker's list, has_roast telling the truth.
call GET /now-playing >"$tmp/now-playing"
expect_status 200 "GET /now-playing"
check "now-playing body" '(.cached | type == "boolean") and .page == 1 and .total_pages == 1
  and (.total_results == (.movies | length))
  and (.dates.maximum | '"$DAY"') and (.dates.minimum | '"$DAY"')
  and (.movies | length > 0 and all(
        (.id | type == "number") and (.title | type == "string")
        and (.release_date | type == "string" and '"$DAY"')
        and (.rating | type == "number") and (.votes | type == "number" and floor == .)
        and (.popularity | type == "number") and (.overview | type == "string")
        and (.poster_url == null or (.poster_url | startswith("https://image.tmdb.org/t/p/w500/")))
        and (.has_roast | type == "boolean")))' <"$tmp/now-playing"

# 4. /movie/{id} for every movie: MovieMeta's 26 fields, the card within its limits.
META='["adult","backdrop_path","belongs_to_collection","budget","genres","homepage","id","imdb_id",
  "origin_country","original_language","original_title","overview","popularity","poster_path",
  "production_companies","production_countries","release_date","revenue","runtime",
  "spoken_languages","status","tagline","title","video","vote_average","vote_count"]'
WORDS='(split(" ") | map(select(length > 0)) | length)'
for id in $(jq -r '.movies[].id' "$tmp/now-playing"); do
  call GET "/movie/$id" >/dev/null
  expect_status 200 "GET /movie/$id"
  check "movie $id" '(.cached | type == "boolean")
    and (.movie | type == "object" and (keys - '"$META"' == []) and ('"$META"' - keys == []))
    and .movie.id == '"$id"' and (.movie.genres | all(has("id") and has("name")))
    and (.movie.spoken_languages | all(has("english_name") and has("iso_639_1") and has("name")))
    and (.roast.headline | type == "string" and '"$WORDS"' <= 12)
    and (.roast.content | type == "string" and '"$WORDS"' <= 150 and (split("\n\n") | length) == 3)
    and (.roast.chips | length >= 2 and length <= 3 and all('"$WORDS"' >= 2 and '"$WORDS"' <= 4))
    and (.roast.internet_vibe | length == 6 and all(type == "string" and '"$WORDS"' <= 12))
    and (.roast.your_opinion | type == "string" and '"$WORDS"' <= 65)
    and (.roast.similar_movies | length == 4 and all(type == "string"))
    and (.generated_at | '"$ISO"') and .disclaimer == "Satire. Facts unchanged."
    and .truth_source == "perplexity:sonar" and (.truth_fetched_at | '"$ISO"')' <"$tmp/body"
done
check "every movie has its roast" '.movies | all(.has_roast)' < <(call GET /now-playing)
say "movies: $(jq '.movies | length' "$tmp/now-playing") served with their cards"

# 5. /feed, every mode.
first="$(jq -r '.movies[0].id' "$tmp/now-playing")"
call GET "/feed?type=now-playing" >/dev/null
expect_status 200 "feed now-playing"
check "feed now-playing" '.type == "now-playing" and (.total | type == "number") and (.movies | type == "array") and (.dates | type == "object")' <"$tmp/body"
for kind in roast truth all; do
  call GET "/feed?type=$kind&page=1&limit=5" >/dev/null
  expect_status 200 "feed $kind"
  check "feed $kind envelope" '.type == "'"$kind"'" and .page == 1 and .limit == 5 and (.total | type == "number")
    and (.total_pages | type == "number") and (.results | type == "array" and length <= 5 and length > 0)' <"$tmp/body"
done
call GET "/feed?type=roast&limit=1" >/dev/null
check "feed roast result" '.results[0] | (has("cached") | not) and has("movie") and has("roast") and has("generated_at")
  and .disclaimer == "Satire. Facts unchanged."' <"$tmp/body"
call GET "/feed?type=truth&limit=1" >/dev/null
check "feed truth result" '.results[0] | .source == "perplexity:sonar" and (.fetchedAt | '"$ISO"')
  and (.citations | type == "array") and (.searchResults | all(has("title") and has("url") and has("date") and has("snippet")))
  and (.content | type == "string") and (.usage | type == "object") and (.cost | type == "number")' <"$tmp/body"
call GET "/feed?type=all&limit=3" >/dev/null
check "feed all result" '.results | all(has("id") and has("has_roast") and has("roast") and has("roast_generated_at")
  and has("truth") and has("truth_fetched_at"))' <"$tmp/body"
call GET "/feed?type=roast&id=$first" >/dev/null
expect_status 200 "feed roast by id"
check "feed roast by id" '.movie.id == '"$first"'' <"$tmp/body"
call GET "/feed?type=truth&id=$first" >/dev/null
expect_status 200 "feed truth by id"
call GET "/feed?type=all&id=$first" >/dev/null
expect_status 400 "feed all by id"
call GET "/feed?type=bogus" >/dev/null
expect_status 400 "feed unknown type"
check "feed unknown type body" '.error == "Invalid type. Use: now-playing, roast, truth, or all"' <"$tmp/body"

# 6. /logs?limit=50: the Worker's envelope and entry fields; limits clamp.
call GET "/logs?limit=50" >/dev/null
expect_status 200 "GET /logs"
check "logs body" '(.total | type == "number") and (.logs | type == "array" and length <= 50 and length > 0)
  and (.note | type == "string")
  and (.logs | all((.timestamp | type == "string") and (.level | IN("DEBUG","INFO","WARN","ERROR"))
       and has("correlationId") and (.endpoint | type == "string") and (.method | type == "string")))' <"$tmp/body"
call GET "/logs?limit=5000&level=INFO&correlationId=$cid" >/dev/null
expect_status 200 "GET /logs clamped and filtered"
check "logs filtered" '.logs | length > 0 and all(.level == "INFO" and .correlationId == "'"$cid"'")' <"$tmp/body"

# 7. /debug?correlationId= for the run; 400 without it; 404 for nothing.
call GET "/debug?correlationId=$cid" >/dev/null
expect_status 200 "GET /debug"
check "debug body" '.correlationId == "'"$cid"'" and (.count | type == "number" and . > 0)
  and ((.entries | length) == .count)
  and (.entries | all((.key | startswith("debug:'"$cid"':")) and (.data | has("movie") and has("truth")
       and has("roast") and has("result") and has("correlationId") and has("timestamp"))))' <"$tmp/body"
call GET "/debug" >/dev/null
expect_status 400 "GET /debug without correlationId"
call GET "/debug?correlationId=no-such-id-123" >/dev/null
expect_status 404 "GET /debug for nothing"
call GET "/movie/$first/debug" >/dev/null
expect_status 200 "GET /movie/{id}/debug"
check "movie debug" '.movieId == '"$first"' and .count >= 1 and (.entries | type == "array")' <"$tmp/body"

# 8. Cache clears, one kind at a time, then all.
for kind in debug roast now-playing truth all; do
  call DELETE "/cache/clear/$kind" >/dev/null
  expect_status 200 "DELETE /cache/clear/$kind"
  check "clear $kind" '.success == true and (.deleted_count | type == "number")
    and (.deleted_keys | type == "array") and (.deleted_keys | length) == .deleted_count
    and (.message | type == "string")' <"$tmp/body"
done
call GET /nope >/dev/null
expect_status 404 "unknown route"
check "unknown route" '.error == "Not found"' <"$tmp/body"

say "worker client flow: ok"
