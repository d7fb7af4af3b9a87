"""Throughput of v2 edits against a running userd: UpdateHumanUser (profile only), SetEmail with
returnCode (one Argon2id hash), VerifyEmail (one Argon2id verify). Usage: edits_probe.py URL TOKEN"""
import json, sys, time, uuid, concurrent.futures as cf, urllib.request

url, token = sys.argv[1], sys.argv[2]
def call(method, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())

ids = []
for i in range(64):
    uid = "p" + uuid.uuid4().hex[:10]
    call("POST", "/v2/users/human", {"userId": uid, "username": uid, "organization": {"orgId": "org-a"},
         "profile": {"givenName": "A", "familyName": "B"}, "email": {"email": f"{uid}@x.io", "isVerified": True}})
    ids.append(uid)

def run(name, fn, n):
    start = time.perf_counter()
    with cf.ThreadPoolExecutor(16) as pool:
        lat = list(pool.map(fn, range(n)))
    took = time.perf_counter() - start
    lat.sort()
    print(f"{name}: {n/took:.0f} req/s, p50 {lat[len(lat)//2]*1000:.1f} ms, p99 {lat[int(len(lat)*0.99)]*1000:.1f} ms")

def timed(f):
    def g(i):
        t = time.perf_counter(); f(i); return time.perf_counter() - t
    return g

run("UpdateHumanUser (nickName)", timed(lambda i: call("PUT", f"/v2/users/human/{ids[i%64]}", {"profile": {"givenName": "A", "familyName": "B", "nickName": f"n{i}"}})), 4000)
codes = {}
def set_email(i):
    uid = ids[i % 64]
    r = call("POST", f"/v2/users/{uid}/email", {"email": f"{uid}+{i}@x.io", "returnCode": {}})
    codes[uid] = r["verificationCode"]
run("SetEmail returnCode", timed(set_email), 640)
run("VerifyEmail", timed(lambda i: call("POST", f"/v2/users/{ids[i]}/email/verify", {"verificationCode": codes[ids[i]]})), 64)
