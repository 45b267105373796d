"""The pieces the Google backends share, with the real discovery clients (no
network): operation names of both APIs, and errors that name the product."""

from __future__ import annotations

import pytest
from google.auth.credentials import AnonymousCredentials

from reconciler.backends.google.client import build_service
from reconciler.backends.google.errors import VERTEX_ROLES, GoogleApiError, translate
from reconciler.backends.google.operations import getter


@pytest.mark.parametrize(
    ("api", "name", "method"),
    [
        (
            "aiplatform",
            "projects/p/locations/us-central1/operations/1",
            "aiplatform.projects.locations.operations.get",
        ),
        (
            "aiplatform",
            "projects/p/locations/us-central1/endpoints/e/operations/2",
            "aiplatform.projects.locations.endpoints.operations.get",
        ),
        (
            "aiplatform",
            "projects/p/locations/us-central1/hyperparameterTuningJobs/7/operations/3",
            "aiplatform.projects.locations.hyperparameterTuningJobs.operations.get",
        ),
        ("ml", "projects/p/operations/create_m_v1-123", "ml.projects.operations.get"),
    ],
)
def test_an_operation_is_polled_where_its_name_says(api: str, name: str, method: str) -> None:
    service = build_service(api, "v1", AnonymousCredentials())  # type: ignore[no-untyped-call]
    request = getter(service, name)
    assert request.methodId == method
    assert request.uri.split("?")[0].endswith("/v1/" + name)


def test_a_name_that_only_contains_a_collection_is_not_its_operation() -> None:
    service = build_service("aiplatform", "v1", AnonymousCredentials())  # type: ignore[no-untyped-call]
    # A model named "endpoints" is still a model: the collection is parsed, not searched.
    request = getter(service, "projects/p/locations/l/models/endpoints/operations/4")
    assert request.methodId == "aiplatform.projects.locations.models.operations.get"
    with pytest.raises(GoogleApiError, match="not an operation name"):
        getter(service, "projects/p/jobs/j")


def test_permission_errors_name_the_roles_of_the_product() -> None:
    body = b'{"error": {"code": 403, "message": "denied"}}'
    vertex = translate(403, body, "create job", "projects/p/locations/l/customJobs")
    assert vertex.hint == VERTEX_ROLES
    engine = translate(
        403, body, "create job", "projects/p/jobs", roles="grant ML Engine Developer"
    )
    assert engine.message == "permission denied: create job on projects/p/jobs: denied"
    assert engine.hint == "grant ML Engine Developer"
