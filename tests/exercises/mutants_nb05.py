"""Mistakes in notebook 05's exercises that its checks must catch (see ``tests/mutation.py``)."""

from mutation import Mutant

MUTANTS = [
    Mutant(module="nb05_widget", exercise="file_from_upload", mistake="the upload's content left a memoryview",
           before='return value[0]["name"], bytes(value[0]["content"])',
           after='return value[0]["name"], value[0]["content"]',
           hint="convert it with bytes(...)"),
    Mutant(module="nb05_widget", exercise="upload_message", mistake="percentages without a decimal",
           before='f"{p.label} {p.probability:.1%}"', after='f"{p.label} {p.probability:.0%}"',
           hint="percentages with one decimal"),
    Mutant(module="nb05_widget", exercise="upload_message", mistake="upload_message lets a server error out",
           before="    except ServerError as error:", after="    except ValueError as error:",
           hint="catch ServerError and return a message"),
    Mutant(module="nb05_widget", exercise="upload_message", mistake="the error shown with its code, not its message",
           before='return f"Error: {error.message}"', after='return f"Error: {error}"',
           hint="the error's .message"),
    Mutant(module="nb05_widget", exercise="upload_message", mistake="the model server asked with nothing uploaded",
           before='    if uploaded is None:\n        return "Choose an image."\n    try:\n',
           after='    try:\n        if uploaded is None:\n            client.predict(b"")\n'
                 '            return "Choose an image."\n',
           hint="do not call the model server"),
]
