"""The taxi-fare Estimator trainer, installable as the cloud installs it (pip)."""

from setuptools import find_packages, setup

setup(
    name="taxifare-estimator",
    version="0.1.0",
    description="Taxi-fare wide-and-deep regressor with tf.estimator (Cloud ML Engine layout).",
    packages=find_packages(),
    # TensorFlow (with tf.estimator: runtime 2.15 or older) comes from the runtime.
    install_requires=[],
)
