#!/usr/bin/env python3
"""Publishes a few minutes of varied load to a dev-mode gateway and injects Braze faults on the way.

Used by record.sh to give the dashboard something to show. Every burst is a directory of generated
CloudEvents files published with the gateway's own `produce` subcommand:
  - single-recipient campaign and Canvas triggers and messages for distinct users (the gateway batches them),
  - a few schedule creations and one of each example event (every operation),
  - a few events that must be dead-lettered: an unknown type (unknown_type), a trigger without campaign_id
    (invalid_request) and one whose brazedeadline has passed (expired).
Faults go through the simulator's admin API (PUT /_sim/faults): a spell of 503s (retries), then a full outage
(the gateway pauses, lag builds up) and the recovery.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "examples")


def example_data(name):
    """The data of an example event: the simulator's development account accepts its ids."""
    with open(os.path.join(EXAMPLES, name)) as f:
        return json.load(f)["data"]


MESSAGE = example_data("02-braze.messages.send.json")
TRIGGER = example_data("03-braze.campaigns.trigger.send.json")
CANVAS = example_data("04-braze.canvas.trigger.send.json")
SCHEDULE = example_data("08-braze.campaigns.trigger.schedule.create.json")


def with_user(data, user, field="recipients"):
    d = json.loads(json.dumps(data))
    if field == "external_user_ids":
        d["external_user_ids"] = [user]
    else:
        d["recipients"] = [{"external_user_id": user}]
    return d


def now():
    return datetime.now(timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(eid, typ, data, key, **ext):
    ev = {"specversion": "1.0", "id": eid, "source": "/load", "type": typ, "time": iso(now()),
          "datacontenttype": "application/json", "partitionkey": key, "data": data}
    ev.update(ext)
    return ev


def burst(n, size):
    """Returns the events of burst n."""
    evs = []
    for i in range(size):
        user = f"user-{n:03d}-{i:04d}"
        evs.append(event(f"trig-{n}-{i}", "braze.campaigns.trigger.send", with_user(TRIGGER, user), user))
    for i in range(size // 2):
        user = f"canvas-{n:03d}-{i:04d}"
        evs.append(event(f"canvas-{n}-{i}", "braze.canvas.trigger.send", with_user(CANVAS, user), user))
    for i in range(size // 3):
        user = f"msg-{n:03d}-{i:04d}"
        evs.append(event(f"msg-{n}-{i}", "braze.messages.send", with_user(MESSAGE, user, "external_user_ids"), user))
    for i in range(3):
        user = f"sched-{n:03d}-{i}"
        evs.append(event(f"sched-{n}-{i}", "braze.campaigns.trigger.schedule.create", with_user(SCHEDULE, user), user))
    # One of each example event (every operation), with fresh ids and the time set to now.
    for name in sorted(os.listdir(EXAMPLES)):
        if name.endswith(".json"):
            with open(os.path.join(EXAMPLES, name)) as f:
                ex = json.load(f)
            ex["id"], ex["time"] = f"{ex['id']}-{n}", iso(now())
            evs.append(ex)
    # Bad events: one of each kind per burst.
    evs.append(event(f"bad-type-{n}", "braze.messages.explode", {"x": 1}, f"bad-{n}"))
    no_campaign = with_user(TRIGGER, f"bad-req-{n}")
    del no_campaign["campaign_id"]
    evs.append(event(f"bad-req-{n}", "braze.campaigns.trigger.send", no_campaign, f"bad-req-{n}"))
    evs.append(event(f"late-{n}", "braze.campaigns.trigger.send", with_user(TRIGGER, f"late-{n}"), f"late-{n}",
                     brazedeadline=iso(now() - timedelta(minutes=1))))
    return evs


def produce(gateway, brokers, evs):
    with tempfile.TemporaryDirectory() as d:
        for i, ev in enumerate(evs):
            with open(os.path.join(d, f"{i:05d}.json"), "w") as f:
                json.dump(ev, f)
        subprocess.run([gateway, "produce", "-brokers", brokers, d], check=True, stdout=subprocess.DEVNULL)


def set_faults(sim, faults):
    req = urllib.request.Request(sim + "/_sim/faults", data=json.dumps(faults).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
    print(f"{iso(now())} faults: {json.dumps(faults)}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", required=True, help="gateway binary")
    ap.add_argument("--brokers", default="127.0.0.1:19392")
    ap.add_argument("--sim", default="http://127.0.0.1:14010")
    ap.add_argument("--duration", type=int, default=360, help="seconds of load")
    ap.add_argument("--every", type=int, default=10, help="seconds between bursts")
    ap.add_argument("--size", type=int, default=300, help="campaign triggers per burst")
    args = ap.parse_args()

    d = args.duration
    # (second, faults): fractions of the run so that a shorter run keeps the same story.
    plan = [
        (int(d * 0.30), {"error_rate": {"503": 0.25}}),
        (int(d * 0.45), {"outage5xx": [{"status": 503}]}),
        (int(d * 0.65), {}),
    ]
    start = time.time()
    n = 0
    while time.time() - start < d:
        t = time.time() - start
        while plan and plan[0][0] <= t:
            set_faults(args.sim, plan.pop(0)[1])
        evs = burst(n, args.size)
        produce(args.gateway, args.brokers, evs)
        print(f"{iso(now())} burst {n}: {len(evs)} events", flush=True)
        n += 1
        time.sleep(max(0, args.every - (time.time() - start - t)))
    set_faults(args.sim, {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
