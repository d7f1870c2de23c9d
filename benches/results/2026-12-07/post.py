#!/usr/bin/env python3
"""Streams a line-protocol file to URL as POSTs of about BLOCK bytes (whole lines), from N
threads over keep-alive connections to 127.0.0.1, without loading the file: the client side of
import30d.sh. Prints wall time, bytes, POSTs and any non-2xx answer."""
import http.client, queue, sys, threading, time, urllib.parse

url, path = sys.argv[1], sys.argv[2]
block = int(sys.argv[3]) if len(sys.argv) > 3 else 1_500_000
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
u = urllib.parse.urlsplit(url)
assert u.hostname in ("127.0.0.1", "localhost"), "loopback only"
target = u.path + ("?" + u.query if u.query else "")
q = queue.Queue(maxsize=threads * 2)
errors, posts = [], [0]
lock = threading.Lock()

def worker():
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    while True:
        body = q.get()
        if body is None:
            return
        conn.request("POST", target, body=body, headers={"Content-Type": "text/plain"})
        r = conn.getresponse()
        data = r.read()
        with lock:
            posts[0] += 1
            if r.status // 100 != 2 and len(errors) < 5:
                errors.append((r.status, data[:300]))

ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
t0 = time.time()
sent = 0
with open(path, "rb") as f:
    rest = b""
    while True:
        chunk = f.read(block)
        if not chunk:
            break
        buf = rest + chunk
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            rest = buf
            continue
        q.put(buf[:cut])
        sent += cut
        rest = buf[cut:]
    if rest:
        q.put(rest)
        sent += len(rest)
for _ in ts:
    q.put(None)
for t in ts:
    t.join()
wall = time.time() - t0
print(f"sent {sent} bytes in {posts[0]} POSTs, {wall:.1f} s wall; errors: {errors}")
