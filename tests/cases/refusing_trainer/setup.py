from setuptools import find_packages, setup

setup(name="refusing-fare", version="0.1", packages=find_packages())
