#!/usr/bin/env python3
"""Drive roomctl join from Python: join, read stats, mute, leave.
   control-driver.py APP_ID APP_SECRET [SERVER]"""
import itertools, json, os, subprocess, sys

server = sys.argv[3] if len(sys.argv) > 3 else "ws://127.0.0.1:8890"
rc = subprocess.Popen([os.environ.get("ROOMCTL", "roomctl"), "join", "--server", server, "--app-id", sys.argv[1], "--app-secret",
                       sys.argv[2], "--room", "r1", "--uid", "py", "--publish", "test", "--control"],
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
events = (json.loads(line) for line in rc.stdout)
ids = itertools.count(1)

def call(method, **params):
    i = next(ids)
    rc.stdin.write(json.dumps({"id": i, "method": method, "params": params}) + "\n")
    rc.stdin.flush()
    reply = next(e["data"] for e in events if e["event"] == "reply" and e["data"]["id"] == i)
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']['code']}: {reply['error']['message']}")
    return reply["result"]

next(e for e in events if e["event"] == "sdk_auth_result" and e["data"]["result"] == 0)
print(call("getSessionStats"))
call("muteLocalAudio", mute=True)
call("leaveRoom")
sys.exit(rc.wait())
