"""Model servers mlapply knows how to run on Vertex AI in an image the user mirrors.

After Google's last prebuilt TensorFlow prediction images end (2.14 and 2.15, on
2027-01-14), a version needs an image of its own. ``servingContainer.server``
names one of these servers; mlapply then fills the container's command, port and
routes, and lays the SavedModel out as the server reads it, so the manifest names
only the image.

Sources, checked 2026-12-07:

- Vertex AI passes the model to the container as ``AIP_STORAGE_URI``, a gs://
  folder holding a copy of ``Model.artifactUri`` ("Custom container requirements
  for prediction", cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements);
  ``command`` and ``args`` may reference it as ``$(AIP_STORAGE_URI)``, and Vertex
  sends requests to the first of ``ports`` (``ModelContainerSpec``, aiplatform v1
  discovery document revision 20261106).
- TensorFlow Serving's image runs ``/usr/bin/tensorflow_model_server``, serves REST
  on 8501 (tensorflow/serving, ``tensorflow_serving/tools/docker/Dockerfile``),
  answers ``POST /v1/models/NAME:predict`` and ``GET /v1/models/NAME`` (its model
  status; REST API page, tensorflow.org/tfx/serving/api_rest), and loads the
  highest numbered folder under ``--model_base_path``, which may be a gs:// path
  (tensorflow.org/tfx/serving/serving_basic). The Vertex request body
  ``{"instances": [...]}`` and answer ``{"predictions": [...]}`` are TF Serving's
  row format.
"""

from __future__ import annotations

from typing import NamedTuple

from reconciler.stack.resources import ServingContainer


class Server(NamedTuple):
    command: tuple[str, ...]
    args: tuple[str, ...]
    port: int
    predict_route: str
    health_route: str
    version_folder: str | None
    """The folder under ``artifactUri`` the SavedModel goes in (None: at its root)."""


MODEL_NAME = "model"

SERVERS: dict[str, Server] = {
    "tensorflow-serving": Server(
        command=("/usr/bin/tensorflow_model_server",),
        args=(
            "--rest_api_port=8501",
            f"--model_name={MODEL_NAME}",
            "--model_base_path=$(AIP_STORAGE_URI)",
        ),
        port=8501,
        predict_route=f"/v1/models/{MODEL_NAME}:predict",
        health_route=f"/v1/models/{MODEL_NAME}",
        version_folder="1",
    ),
}


def filled(container: ServingContainer) -> ServingContainer:
    """The container with its server's command, args, port and routes (the schema
    refuses a manifest that sets both a server and any of these)."""
    if container.server is None:
        return container
    server = SERVERS[container.server]
    return container._replace(
        command=server.command,
        args=server.args,
        port=server.port,
        predict_route=server.predict_route,
        health_route=server.health_route,
    )


def version_folder(container: ServingContainer | None) -> str | None:
    """Where under ``artifactUri`` the container's server wants the SavedModel."""
    if container is None or container.server is None:
        return None
    return SERVERS[container.server].version_folder
