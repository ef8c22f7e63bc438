"""Mistakes in notebook 07's exercises that its checks must catch (see ``tests/mutation.py``)."""

from mutation import Mutant

MODULE = "nb07_compare"

WARMUP_THEN_TIMED = """    for k in range(warmup):
        call(images[k % len(images)])
    timings = []
    for k in range(warmup, warmup + n):
"""

TIMED_LOOP = """    for k in range(warmup, warmup + n):
        _, seconds = time_call(call, images[k % len(images)])
"""

MUTANTS = [
    # time_requests
    Mutant(module=MODULE, exercise="time_requests", mistake="time_requests times the warm-up too",
           before=WARMUP_THEN_TIMED, after="    timings = []\n    for k in range(warmup + n):\n",
           hint="warm-up requests are timed"),
    Mutant(module=MODULE, exercise="time_requests", mistake="time_requests sends no warm-up",
           before="    for k in range(warmup):\n        call(images[k % len(images)])\n", after="",
           hint="no warm-up was sent"),
    Mutant(module=MODULE, exercise="time_requests", mistake="time_requests times one request too few",
           before="for k in range(warmup, warmup + n):", after="for k in range(warmup, warmup + n - 1):",
           hint="off by one"),
    Mutant(module=MODULE, exercise="time_requests", mistake="time_requests sends the same image every time",
           before=TIMED_LOOP, after=TIMED_LOOP.replace("images[k % len(images)]", "images[0]"),
           hint="the same image"),
    Mutant(module=MODULE, exercise="time_requests", mistake="time_requests runs past the last image",
           before=TIMED_LOOP, after=TIMED_LOOP.replace("images[k % len(images)]", "images[k]"),
           hint="start again from the first"),
    Mutant(module=MODULE, exercise="time_requests", mistake="time_requests reads its own clock",
           before="        _, seconds = time_call(call, images[k % len(images)])\n",
           after="        started = __import__('time').perf_counter()\n"
                 "        call(images[k % len(images)])\n"
                 "        seconds = __import__('time').perf_counter() - started\n",
           hint="time each request with time_call"),
    Mutant(module=MODULE, exercise="time_requests", mistake="time_requests skips a failed request",
           before="        _, seconds = time_call(call, images[k % len(images)])\n",
           after="        try:\n            _, seconds = time_call(call, images[k % len(images)])\n"
                 "        except Exception:\n            continue\n",
           hint="let its exception through"),
    Mutant(module=MODULE, exercise="time_requests", mistake="time_requests accepts no images",
           before='    if not images:\n        raise ValueError("no images to send")\n', after="",
           hint="nothing to send: raise ValueError"),
    # median
    Mutant(module=MODULE, exercise="median", mistake="median takes one middle value of an even count",
           before="    if len(ordered) % 2:\n        return ordered[middle]\n",
           after="    return ordered[middle]\n",
           hint="mean of the two middle values"),
    Mutant(module=MODULE, exercise="median", mistake="median does not sort",
           before="ordered = sorted(samples)", after="ordered = list(samples)",
           hint="sort the values first"),
    Mutant(module=MODULE, exercise="median", mistake="median sorts the caller's list",
           before="ordered = sorted(samples)", after="ordered = samples\n    ordered.sort()",
           hint="reordered the list it was given"),
    # speed_up
    Mutant(module=MODULE, exercise="speed_up", mistake="speed_up upside down",
           before="return median(before) / median(after)", after="return median(after) / median(before)",
           hint="upside down"),
    Mutant(module=MODULE, exercise="speed_up", mistake="speed_up with means",
           before="return median(before) / median(after)",
           after="return (sum(before) / len(before)) / (sum(after) / len(after))",
           hint="use medians, not means"),
]
