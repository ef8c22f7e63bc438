"""Mistakes in notebook 02's exercises that its checks must catch (see ``tests/mutation.py``)."""

from mutation import Mutant

#: The reference ``time_call``'s clock readings, which the first two mutants change.
TIMED = ("    started = time.perf_counter()\n    result = fn(*args, **kwargs)\n"
         "    return result, time.perf_counter() - started")

MUTANTS = [
    Mutant(module="nb02_monolith", exercise="time_call", mistake="time_call on the wall clock",
           before=TIMED, after=TIMED.replace("perf_counter", "time"),
           hint="time.perf_counter()"),
    Mutant(module="nb02_monolith", exercise="time_call", mistake="time_call in milliseconds",
           before="return result, time.perf_counter() - started",
           after="return result, (time.perf_counter() - started) * 1000",
           hint="milliseconds"),
    Mutant(module="nb02_monolith", exercise="time_call", mistake="time_call drops the keyword arguments",
           before="    result = fn(*args, **kwargs)\n", after="    result = fn(*args)\n",
           hint="must call fn(*args, **kwargs)"),
    Mutant(module="nb02_monolith", exercise="slowest_stage", mistake="slowest_stage picks the quickest",
           before="name = max(stages", after="name = min(stages", hint="it is the slowest"),
    Mutant(module="nb02_monolith", exercise="slowest_stage", mistake="slowest_stage share in percent",
           before="stages[name] / sum(stages.values())", after="100 * stages[name] / sum(stages.values())",
           hint="fraction of the total"),
    Mutant(module="nb02_monolith", exercise="slowest_stage", mistake="slowest_stage of nothing returns",
           before='        raise ValueError("no stages to compare")', after='        return "", 0.0',
           hint="raise ValueError"),
    Mutant(module="nb02_monolith", exercise="handle_upload",
           mistake="decode and predict timed under each other's names",
           before='    pixels, stages["decode_image"] = time_call(parts.decode_image, image)\n'
                  '    probabilities, stages["predict"] = time_call(parts.predict, model, pixels)',
           after='    pixels, stages["predict"] = time_call(parts.decode_image, image)\n'
                 '    probabilities, stages["decode_image"] = time_call(parts.predict, model, pixels)',
           hint="under the right stage's name"),
    Mutant(module="nb02_monolith", exercise="handle_upload", mistake="handle_upload ignores top",
           before="return parts.top_predictions(probabilities, top), stages",
           after="return parts.top_predictions(probabilities, 3), stages",
           hint="for the probabilities and `top`"),
]
