#!/usr/bin/env python3
"""/api/v1/correlate over HTTP at issue 16's size: 10,000 candidate random walks x 1,000 points.

Writes the candidates (`m_f<0..99>{k="h<0..99>"}`, 10 s steps, seed 16) and a target that
`m_f42{k="h7"}` leads by 5 steps through /write, then times /api/v1/correlate (max_lag 100), the
candidates' range evaluation alone (`count(...)`) and, for scale, their /api/v1/query_range.

    foresight --data-dir /tmp/corr serve --listen 127.0.0.1:18716 --durability none &
    python3 benches/correlate_http.py 18716
"""
import json, random, sys, time, urllib.request, urllib.parse
port = sys.argv[1]
base = f"http://127.0.0.1:{port}"
T0, N, TAGS, FIELDS = 1_700_000_000, 1000, 100, 100
rng = random.Random(16)
levels = [[0.0] * FIELDS for _ in range(TAGS)]
hist = []  # candidate (7, 42)'s values
lead = 5
t0 = time.time()
chunk = []
def flush():
    body = "".join(chunk).encode()
    req = urllib.request.Request(f"{base}/write?precision=s", data=body, method="POST")
    urllib.request.urlopen(req).read()
    chunk.clear()
for i in range(N):
    t = T0 + 10 * i
    for tag in range(TAGS):
        lv = levels[tag]
        for f in range(FIELDS):
            lv[f] += rng.gauss(0, 1)
        chunk.append(f"m,k=h{tag} " + ",".join(f"f{f}={lv[f]:.6g}" for f in range(FIELDS)) + f" {t}\n")
    hist.append(levels[7][42])
    if i % 50 == 49:
        flush()
flush()
# target[t] = candidate[t - lead] + noise: the candidate leads by `lead` steps.
tgt = "".join(f"target v={(hist[i - lead] if i >= lead else 0.0) + rng.gauss(0, 0.3):.6g} {T0 + 10 * i}\n" for i in range(N))
urllib.request.urlopen(urllib.request.Request(f"{base}/write?precision=s", data=tgt.encode(), method="POST")).read()
print(f"wrote {TAGS*FIELDS} x {N} in {time.time()-t0:.1f} s", flush=True)
params = urllib.parse.urlencode({"target": "target_v", "candidates": '{__name__=~"m_f.*"}', "start": T0,
                                 "end": T0 + 10 * (N - 1), "step": "10s", "max_lag": "100", "limit": "3"})
for rep in range(5):
    s = time.time()
    body = urllib.request.urlopen(f"{base}/api/v1/correlate?{params}").read()
    el = time.time() - s
    d = json.loads(body)["data"]
    top = d["result"][0]
    print(f"correlate {d['candidates']} candidates: {el*1000:.0f} ms; top {top['metric']} lag {top['lag']} r {top['coefficient']}", flush=True)
params_q = urllib.parse.urlencode({"query": '{__name__=~"m_f.*"}', "start": T0, "end": T0 + 10 * (N - 1), "step": "10s"})
for rep in range(3):
    s = time.time()
    body = urllib.request.urlopen(f"{base}/api/v1/query_range?{params_q}").read()
    print(f"query_range of the candidates alone: {(time.time()-s)*1000:.0f} ms ({len(body)>>20} MiB)", flush=True)
params_c = urllib.parse.urlencode({"query": 'count({__name__=~"m_f.*"})', "start": T0, "end": T0 + 10 * (N - 1), "step": "10s"})
for rep in range(3):
    s = time.time()
    body = urllib.request.urlopen(f"{base}/api/v1/query_range?{params_c}").read()
    print(f"count() of the candidates over the range (evaluation without the JSON): {(time.time()-s)*1000:.0f} ms", flush=True)
