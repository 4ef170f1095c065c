"""Master list in S3 (``s3://bucket/key``), through boto3: the optional ``s3``
extra, ``pip install Flask-ClusterShazbot[s3]``.

Credentials come from the standard AWS chain (environment, shared config,
instance or task role), so no static secret needs configuring; set
``AWS_ENDPOINT_URL`` for an S3-compatible store. Writes are conditional (S3
conditional writes): ``If-Match`` the ETag read, or ``If-None-Match: *`` when
the object did not exist, retried on a precondition failure, so concurrent
writers lose nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .errors import MasterListError, PreconditionFailed
from .masterlist import MergeFn, decode_server_list, read_merge_write
from .model import ServerEntry

__all__ = ["S3MasterList", "parse_s3_url"]

_RETRY_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def parse_s3_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise ValueError(f"must be s3://bucket/key (got {url!r})")
    return bucket, key


class S3MasterList:
    def __init__(self, read_url: str, write_url: str, *, timeout: float, max_body: int) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:  # pragma: no cover - depends on the install
            raise MasterListError("s3:// master lists need boto3: pip install Flask-ClusterShazbot[s3]") from None
        self.read_at = parse_s3_url(read_url)
        self.write_at = parse_s3_url(write_url)
        self._max_body = max_body
        config = Config(connect_timeout=min(timeout, 3.0), read_timeout=timeout, retries={"max_attempts": 2})
        self._client: Any = boto3.client("s3", config=config)

    @staticmethod
    def _name(at: tuple[str, str]) -> str:
        return f"s3://{at[0]}/{at[1]}"

    def _error(self, doing: str, at: tuple[str, str], exc: Exception) -> MasterListError:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        return MasterListError(f"{doing} master list {self._name(at)} failed: {code}")

    def _get(self, at: tuple[str, str]) -> tuple[list[ServerEntry], str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.get_object(Bucket=at[0], Key=at[1])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return [], None
            raise self._error("reading", at, exc) from None
        except BotoCoreError as exc:
            raise self._error("reading", at, exc) from None
        if int(answer.get("ContentLength") or 0) > self._max_body:
            raise MasterListError(f"reading master list {self._name(at)} failed: larger than {self._max_body} bytes")
        body = answer["Body"].read(self._max_body + 1)
        return decode_server_list(body, self._name(at)), answer.get("ETag")

    def read(self) -> list[ServerEntry]:
        return self._get(self.read_at)[0]

    def _put(self, body: bytes, etag: str | None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = self.write_at
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _RETRY_CODES:
                raise PreconditionFailed(f"master list {self._name(self.write_at)} changed while we merged") from None
            raise self._error("writing", self.write_at, exc) from None
        except BotoCoreError as exc:
            raise self._error("writing", self.write_at, exc) from None

    def update(self, merge: MergeFn) -> None:
        read_merge_write(lambda: self._get(self.write_at), self._put, merge, self._name(self.write_at))
