"""hr-pipeline's query API (FastAPI): the warehouse's heart rate over HTTP, for people and dashboards."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hr-pipeline")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0"
