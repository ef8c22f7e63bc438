"""Mistakes in notebook 08's exercise, ``closed_loop``, that its checks must catch (see ``tests/mutation.py``)."""

from mutation import Mutant

M, E = "nb08_load", "closed_loop"

_START_AND_JOIN = """    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
"""

MUTANTS = [
    Mutant(M, E, "clients wait for each other in lockstep rounds",
           before="""    threads = [threading.Thread(target=client, args=(first,)) for first in range(clients)]
    started = time.perf_counter()
""" + _START_AND_JOIN,
           after="""    started = time.perf_counter()
    for first in range(0, requests, clients):
        threads = [threading.Thread(target=timed, args=(number,))
                   for number in range(first, min(first + clients, requests))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
""",
           hint="not wait for the other clients"),
    Mutant(M, E, "each client started and joined in turn", before=_START_AND_JOIN,
           after="""    for thread in threads:
        thread.start()
        thread.join()
""",
           hint="start every client thread before you join any"),
    Mutant(M, E, "one request too few", before="range(first, requests, clients)",
           after="range(first, requests - 1, clients)", hint="never sent"),
    Mutant(M, E, "one request too many", before="range(first, requests, clients)",
           after="range(first, requests + 1, clients)", hint="beyond 0…"),
    Mutant(M, E, "latency timed from the start of the run",
           before="        began = time.perf_counter()\n", after="        began = started\n",
           hint="not from the start of the run"),
    Mutant(M, E, "latency in milliseconds", before="latencies[number] = time.perf_counter() - began",
           after="latencies[number] = (time.perf_counter() - began) * 1000", hint="milliseconds?"),
    Mutant(M, E, "every latency the wall time divided among the requests",
           before="return LoadRun(tuple(latencies), wall_s)",
           after="return LoadRun(tuple(wall_s * clients / requests for _ in latencies), wall_s)",
           hint="not the wall time divided"),
    Mutant(M, E, "clock stopped before the threads are joined",
           before="""    for thread in threads:
        thread.join()
    wall_s = time.perf_counter() - started
""",
           after="""    wall_s = time.perf_counter() - started
    for thread in threads:
        thread.join()
""",
           hint="stop the clock after joining every thread"),
    Mutant(M, E, "wall time as the sum of the latencies",
           before="wall_s = time.perf_counter() - started", after="wall_s = sum(latencies)",
           hint="not the sum of the latencies"),
    Mutant(M, E, "a failed send swallowed", before="        raise errors[0]\n",
           after="        pass\n", hint="the exception was swallowed"),
    Mutant(M, E, "threads not joined", before="        thread.join()\n    wall_s",
           after="        pass\n    wall_s", hint="join() every thread"),
]
