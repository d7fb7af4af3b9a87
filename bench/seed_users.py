"""Create bench-0 .. bench-(N-1) through the API over one keep-alive connection per worker."""
import http.client
import json
import os
import sys
import threading

host, port = sys.argv[1], int(sys.argv[2])
n = int(sys.argv[3])
token = os.environ["TOKEN"]
workers = 8
errors = []


def work(k):
    conn = http.client.HTTPConnection(host, port)
    for i in range(k, n, workers):
        body = json.dumps({"userId": f"bench-{i}", "organization": {"orgId": "bench"},
                           "schemaId": "person", "data": {"i": i}})
        conn.request("POST", "/v3alpha/users", body,
                     {"authorization": "Bearer " + token, "content-type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status not in (201, 409):
            errors.append(r.status)


ts = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
for t in ts:
    t.start()
for t in ts:
    t.join()
if errors:
    sys.exit(f"{len(errors)} creates failed: {errors[:5]}")
