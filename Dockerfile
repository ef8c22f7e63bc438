# syntax=docker/dockerfile:1
# One image definition, a target per tier (docs/deploy.md says how to build and run each):
#
#   docker build --target web   -t resnet-zmq-lab/web   .   # the Flask app under waitress: no TensorFlow
#   docker build --target model -t resnet-zmq-lab/model .   # model server, broker, remote worker
#   docker build --target model-imagenet -t resnet-zmq-lab/model:imagenet .  # with weights/ baked in
#   docker build --target model-gpu -t resnet-zmq-lab/model:gpu .           # TensorFlow with CUDA
#   docker build --target model-gpu-imagenet -t resnet-zmq-lab/model:gpu-imagenet .
#   docker build --target lab   -t resnet-zmq-lab/lab   .   # JupyterLab and the notebooks
#
# Every RUN that installs is the documented command (pip install ".[web]" and so on, as
# docs/running.md gives it), run as it is on the host by tests/test_deploy.py, which parses it out
# of this file: what the image does is tested even where no image is built. Each tier installs
# into a virtual environment in a build stage and copies only that environment into its runtime
# stage.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
# The user the processes run as; build with --build-arg APP_UID=$(id -u) to let the containers
# read key files that keygen wrote on the host (secret files are mode 0600, their owner's only).
ARG APP_UID=10001
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/home/app \
    KERAS_HOME=/home/app/.keras
RUN useradd --uid "${APP_UID}" --user-group --create-home --home-dir /home/app app

FROM base AS build
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY model_server/ model_server/

# --- web: the Flask app, a client of the model server ------------------------------------------
FROM build AS build-web
COPY flask_server/ flask_server/
RUN pip install ".[web]"

FROM base AS web
COPY --from=build-web /opt/venv /opt/venv
USER app
WORKDIR /home/app
ENV MODEL_SERVER_ADDRESS=tcp://broker:5576
EXPOSE 5000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)", "http://127.0.0.1:5000/healthz"]
CMD ["python", "-m", "waitress", "--host=0.0.0.0", "--port=5000", "--threads=32", "--call", "flask_server.app:create_app"]

# --- model: the model server, the broker and remote workers (one image, three commands) --------
FROM build AS build-model
RUN pip install ".[model,openvino]"

# What the model tiers share; each copies in its own environment.
FROM base AS model-runtime
# The Keras cache, where --weights auto and imagenet look for the ImageNet file and where
# untrained weights are saved: owned by the user, so that a weights file can be mounted into it.
RUN install -d -o app -g app /home/app/.keras/models
USER app
WORKDIR /home/app
# Probes (/livez, /readyz) and /metrics over HTTP; the drain on SIGTERM, which every grace period
# (compose's stop_grace_period, Kubernetes' terminationGracePeriodSeconds) exceeds by 5 s.
ENV MODEL_SERVER_HTTP_ADDRESS=0.0.0.0:8080 \
    MODEL_SERVER_DRAIN_SECONDS=10
EXPOSE 5576 5577 8080
STOPSIGNAL SIGTERM
# The start period covers loading the model: 5-7 s measured on 2 cores (benchmarks/sections/footprint.py).
# Ready means a worker can take work: a pure broker (--workers 0) is unhealthy here until a
# remote worker joins, so compose checks the broker's /livez instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["python", "-m", "model_server"]
CMD []

FROM model-runtime AS model
COPY --from=build-model /opt/venv /opt/venv

# The ImageNet weights baked in: place resnet50_weights_tf_dim_ordering_tf_kernels.h5 in weights/
# first (see "Weights" in docs/running.md). Or mount it at run time into /home/app/.keras/models/.
FROM model AS model-imagenet
COPY --chown=app:app weights/resnet50_weights_tf_dim_ordering_tf_kernels.h5 /home/app/.keras/models/
ENV MODEL_SERVER_WEIGHTS=imagenet

# TensorFlow with CUDA's libraries from PyPI; the node gives the driver (NVIDIA container toolkit).
FROM build AS build-model-gpu
RUN pip install ".[model,gpu]"

FROM model-runtime AS model-gpu
COPY --from=build-model-gpu /opt/venv /opt/venv

FROM model-gpu AS model-gpu-imagenet
COPY --chown=app:app weights/resnet50_weights_tf_dim_ordering_tf_kernels.h5 /home/app/.keras/models/
ENV MODEL_SERVER_WEIGHTS=imagenet

# --- lab: JupyterLab with the notebooks, the learner's exercises and the lab's helpers ---------
FROM base AS lab
RUN python -m venv /opt/venv && chown -R app:app /opt/venv
USER app
WORKDIR /home/app/lab
COPY --chown=app:app . .
# Editable, as make setup does: the notebooks import the learner's own exercises/ as edited.
RUN pip install -e ".[lab]"
EXPOSE 8888
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)", "http://127.0.0.1:8888/api"]
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "notebooks/"]
