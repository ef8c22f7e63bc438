"""Mistakes in notebook 06's exercises that its checks must catch (see ``tests/mutation.py``)."""

from mutation import Mutant

MUTANTS = [
    Mutant(module="app", exercise="create_app", mistake="test_config loaded before the defaults",
           before="    app.config.from_mapping(DEFAULTS)\n    if test_config is not None:\n"
                  "        app.config.from_mapping(test_config)",
           after="    if test_config is not None:\n        app.config.from_mapping(test_config)\n"
                 "    app.config.from_mapping(DEFAULTS)",
           hint="load test_config after DEFAULTS"),
    Mutant(module="app", exercise="ask_model_server", mistake="no zmq.IMMEDIATE",
           before="        socket.setsockopt(zmq.IMMEDIATE, 1)\n", after="",
           hint="set zmq.IMMEDIATE"),
    Mutant(module="app", exercise="ask_model_server", mistake="reply polled in seconds",
           before="socket.poll(timeout_s * 1000, zmq.POLLIN)", after="socket.poll(timeout_s, zmq.POLLIN)",
           hint="milliseconds"),
    Mutant(module="app", exercise="ask_model_server", mistake="connection polled in seconds",
           before="socket.poll(connect_timeout_s * 1000, zmq.POLLOUT)",
           after="socket.poll(connect_timeout_s, zmq.POLLOUT)",
           hint="milliseconds"),
    Mutant(module="app", exercise="ask_model_server", mistake="no retries",
           before="for _ in range(1 + retries):", after="for _ in range(1):",
           hint="should be sent 3 times"),
    Mutant(module="app", exercise="ask_model_server", mistake="ask_model_server never closes its socket",
           before="        finally:\n            socket.close()", after="        finally:\n            pass",
           hint="close"),
    Mutant(module="app", exercise="uploader", mistake="a down model server answered 504",
           before="        return _error_page(503, str(error))", after="        return _error_page(504, str(error))",
           hint="answer 503"),
    Mutant(module="app", exercise="uploader", mistake="an empty file sent to the model server",
           before="    if not image:\n", after="    if False:\n",
           hint="nothing should be sent to the model server"),
    Mutant(module="app", exercise="uploader", mistake="timeout and retries passed swapped",
           before='config["MODEL_SERVER_TIMEOUT_S"], config["MODEL_SERVER_RETRIES"]',
           after='config["MODEL_SERVER_RETRIES"], config["MODEL_SERVER_TIMEOUT_S"]',
           hint="from current_app.config, in that order"),
    Mutant(module="app", exercise="uploader", mistake="the model server's error answered 500",
           before='        return _error_page(400, reply["error"]["message"])',
           after='        return _error_page(500, reply["error"]["message"])',
           hint="answer 400"),
]
