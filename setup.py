from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="Flask-ClusterShazbot",
    version="0.1.0",
    description="Gossip-based cluster membership for Flask servers, with no coordinator service.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["flask_clustershazbot", "flask_clustershazbot.*"]),
    package_data={"flask_clustershazbot": ["py.typed", "openapi.json"]},
    python_requires=">=3.10",
    install_requires=[
        "flask>=2.3",
        "apscheduler>=3.10,<4",
        "requests>=2.28",
        "marshmallow>=4",
    ],
    extras_require={"metrics": ["prometheus_client>=0.17"], "s3": ["boto3>=1.35"]},
    classifiers=[
        "Framework :: Flask",
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
    ],
)
