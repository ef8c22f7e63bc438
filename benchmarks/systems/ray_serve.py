"""A widely used peer for comparison: Ray Serve with ``@serve.batch`` serving the same model.

``python -m benchmarks.systems.ray_serve --port P`` serves ``POST /predict`` (the image file as the body)
until stopped. Same model (untrained seeded ResNet50 through the same compiled function), same
decoding, same batching limits as our server, so the difference is the serving system.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from model_server.serving.lifecycle import stop_on_signals
from model_server.serving.settings import ServerSettings

if TYPE_CHECKING:
    from ray.serve import Application
    from starlette.responses import Response

DEFAULTS = ServerSettings()


def build_app(max_batch: int, max_delay_ms: float) -> Application:
    import numpy as np
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse

    class ResNet50Deployment:
        def __init__(self) -> None:
            from model_server.models.tensorflow_model import ResNet50Classifier

            self.classifier = ResNet50Classifier.load("random")

        @serve.batch(max_batch_size=max_batch, batch_wait_timeout_s=max_delay_ms / 1000)
        async def classify(self, pixels: list) -> list:
            probabilities = self.classifier.predict_batch(np.stack(pixels))
            return [self.classifier.top_predictions(p, 3) for p in probabilities]

        async def __call__(self, request: Request) -> Response:
            if request.method == "GET":
                return PlainTextResponse("ok")
            from model_server.images import decode_image

            predictions = await self.classify(decode_image(await request.body()))
            return JSONResponse({"predictions": [vars(p) for p in predictions]})

    return serve.deployment(max_ongoing_requests=64)(ResNet50Deployment).bind()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.systems.ray_serve", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch", type=int, default=DEFAULTS.max_batch)
    parser.add_argument("--max-delay-ms", type=float, default=DEFAULTS.max_delay_ms)
    args = parser.parse_args()

    import ray
    from ray import serve

    stop = stop_on_signals()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    serve.run(build_app(args.max_batch, args.max_delay_ms), route_prefix="/predict")
    print("ray serve ready", flush=True)
    stop.wait()
    serve.shutdown()
    ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
