"""Why a Google backend provides no logs, usage, TensorBoard or predictions facet:
the cloud keeps each of them elsewhere, and says where."""

from __future__ import annotations

from reconciler.backends.facets import Facet
from reconciler.backends.profile import Missing

TENSORBOARD_LOGDIR = "run tensorboard --logdir gs://BUCKET/PATH with your own credentials"


def kept_elsewhere(
    product: str,
    *,
    logs: str,
    summaries: str,
    tensorboard: str,
    serves: str,
    predict: str,
) -> dict[Facet, Missing]:
    """``product``'s jobs log to Cloud Logging and report use to Cloud Monitoring, their
    summaries are in Cloud Storage (``summaries``: where), and ``serves`` (its endpoint,
    its model version) answers online prediction itself (``predict``: how to ask it)."""
    return {
        Facet.LOGS: Missing(f"the logs of {product} jobs are in Cloud Logging", logs),
        Facet.USAGE: Missing(
            f"{product} reports a job's use in Cloud Monitoring, not per job here",
            "open the job in the Google Cloud console",
        ),
        Facet.TENSORBOARD: Missing(
            f"a {product} job's summaries are in Cloud Storage ({summaries})", tensorboard
        ),
        Facet.LOCAL_MODELS: Missing(
            f"a {product} {serves} serves online prediction itself", predict
        ),
        Facet.PREDICTIONS: Missing(
            f"mlapply predict does not call {product}; the {serves} answers online "
            "prediction itself",
            predict,
        ),
    }
