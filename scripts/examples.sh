#!/usr/bin/env bash
# The README's examples as one script, against a running `./scripts/run.sh` (demo data):
# sign in as each demo role and ask what that role asks first. A test runs it against a
# fresh demo, so the README cannot drift from the API.
#   FSM_URL  where the API is (default http://127.0.0.1:8000)
#   DAY      the demo's route day (default: the next working day from today, as the demo
#            plans it when it is loaded; pass the day it was loaded on for an older .data/)
set -euo pipefail
URL=${FSM_URL:-http://127.0.0.1:8000}
DAY=${DAY:-$(python3 -c 'import datetime as d
t = d.date.today()
print(t + d.timedelta(days=(7 - t.weekday()) % 7 if t.weekday() >= 5 else 0))')}

# `field` reads one value out of the JSON on stdin, e.g. field "['items'][0]['id']".
field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
sign_in() {
  curl -sf -X POST "$URL/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"fieldline-demo\"}" | field "['access_token']"
}
get() { curl -sf "$URL$1" -H "Authorization: Bearer $TOKEN"; }

# Each answer goes into a variable first, so a failed call stops the script (set -e).
health=$(curl -sf "$URL/health" | field "['status']")
echo "health: $health"

TOKEN=$(sign_in dispatch@demo.fieldline.dev)
near=$(get '/api/v1/sites?near=52.52,13.405&within_km=5' | field "['total']")
echo "dispatcher: $near sites within 5 km of Berlin's centre"
queue=$(get '/api/v1/work-orders?status=new&limit=5' | field "['total']")
echo "dispatcher: $queue new work orders in the queue (next SLA deadline first)"

TOKEN=$(sign_in engineer1@demo.fieldline.dev)
today=$(get "/mobile/v1/engineer/today?date=$DAY")
jobs=$(echo "$today" | field "['visits'].__len__()")
VISIT=$(echo "$today" | field "['visits'][0]['id']")
echo "engineer1: $jobs jobs on $DAY"
job=$(get "/mobile/v1/engineer/visits/$VISIT" | field "['visit']['work_order']['number']")
checklist=$(get "/mobile/v1/engineer/visits/$VISIT/checklist" | field "['template_name']")
echo "engineer1: first job $job, checklist \"$checklist\""

TOKEN=$(sign_in client@demo.fieldline.dev)
units=$(get '/mobile/v1/client/equipment' | field "['items'].__len__()")
requests=$(get '/mobile/v1/client/requests' | field "['items'].__len__()")
echo "client: $units units, $requests requests"
