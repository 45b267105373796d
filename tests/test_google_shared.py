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


def test_two_writers_of_the_records_never_lose_each_others_update() -> None:
    """Each write is conditional on the generation it read: one that lost the race
    reads the other's update and applies its own again (412, then a second round)."""
    from reconciler.backends.google.client import Caller, build_service
    from reconciler.backends.google.records import Records
    from reconciler.backends.google.storage import Bucket
    from tests.fake_gcp.server import FakeGcp

    fake = FakeGcp()
    with fake.running() as url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLAPPLY_STORAGE_ENDPOINT", url)
        patch.setenv("MLAPPLY_GCP_ANONYMOUS", "1")
        from reconciler.backends.google.client import credentials

        bucket = Bucket(Caller(), build_service("storage", "v1", credentials(), None), "staging")
        other = Records(lambda: bucket, lambda stack: f"mlapply/{stack}/")
        raced: list[bool] = []

        class Racing(Bucket):
            """The bucket as a second writer sees it: the first writer's update lands
            between this writer's read and its write, once."""

            def read(self, name: str, generation: int | None = None) -> bytes | None:
                data = super().read(name, generation)
                if not raced:
                    raced.append(True)
                    other.put("s", "jobs", "theirs", {"n": 1})
                return data

        racing = Racing(bucket.caller, bucket.service, "staging")
        mine = Records(lambda: racing, lambda stack: f"mlapply/{stack}/")
        other.put("s", "jobs", "first", {"n": 0})
        mine.put("s", "jobs", "mine", {"n": 2})
        assert sorted(mine.read("s")["jobs"]) == ["first", "mine", "theirs"]
    assert fake.violations == [], fake.violations
