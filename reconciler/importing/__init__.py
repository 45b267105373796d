"""``mlapply import``: gcloud ML Engine runbooks and configs turned into manifests.

It reads shell scripts and pasted command lines (``gcloud ml-engine|ai-platform
jobs submit training``, ``models create``, ``versions create``), the ``--config``
files they name and ``hptuning_config.yaml`` files, as text: it never runs
them. What it cannot translate it says, by file and line.
"""
