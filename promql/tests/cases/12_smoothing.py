# Expected values of 12_smoothing.test: run `python3 12_smoothing.py`.
# Prometheus' funcDoubleExponentialSmoothing loop, in Python floats (IEEE doubles, unfused as Go on amd64).
def des(vals, sf, tf):
    if len(vals) < 2:
        return None
    s0, s1, b = 0.0, vals[0], vals[1] - vals[0]
    for i in range(1, len(vals)):
        x = sf * vals[i]
        if i - 1 != 0:
            b = tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1

M = 60
a = {i*M: v for i, v in enumerate([10, 12, 11, 15, 13, 14, 18, 17, 21, 20])}
b = {0: 5, 2*M: 7, 4*M: 6, 5*M: 8, 7*M: 9, 8*M: 9, 9*M: 12}  # _ and stale dropped
line = {i*M: 7*i for i in range(10)}
def win(s, end, rng):
    return [v for t, v in sorted(s.items()) if end - rng < t <= end]
def show(tag, x):
    print(tag, repr(x))
show("a 9m [10m] .5 .3", des(win(a, 9*M, 10*M), 0.5, 0.3))
show("b 9m [10m] .5 .3", des(win(b, 9*M, 10*M), 0.5, 0.3))
show("a 9m [4m30s] .2 .8", des(win(a, 9*M, 4.5*M), 0.2, 0.8))
show("b 9m [4m30s] .2 .8", des(win(b, 9*M, 4.5*M), 0.2, 0.8))
for t in (0, 3, 6, 9):
    show(f"range a {t}m [2m30s] .5 .5", des(win(a, t*M, 2.5*M), 0.5, 0.5))
    show(f"range b {t}m [2m30s] .5 .5", des(win(b, t*M, 2.5*M), 0.5, 0.5))
show("line 9m [10m] .1 .9", des(win(line, 9*M, 10*M), 0.1, 0.9))
for t in (3, 6, 9):
    sf = 0.1 * (t*M / 180 + 1)
    show(f"a {t}m [2m30s] sf={sf} .5", des(win(a, t*M, 2.5*M), sf, 0.5))
show("a @9m [4m30s] .2 .8", des(win(a, 9*M, 4.5*M), 0.2, 0.8))
show("subquery 2*a [3m30s:1m] at 9m .5 .5", des([2*v for v in win(a, 9*M, 3.5*M)], 0.5, 0.5))
