"""The income classifier trainer package, installable as the cloud installs it (pip)."""

from setuptools import find_packages, setup

setup(
    name="income-trainer",
    version="0.1.0",
    description="Tabular binary classifier in the Cloud ML Engine trainer layout.",
    packages=find_packages(),
    # TensorFlow comes from the runtime (the cloud image, or mlapply's local
    # runtime); cloudml-hypertune is optional and reports tuning metrics.
    install_requires=[],
)
