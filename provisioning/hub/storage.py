"""Object stores for received documents: a local directory or an S3-compatible bucket.

Objects are content-addressed (``sha256/<aa>/<hex>``), so storing the same bytes twice is a
no-op and a half-written object can never sit under a final name: the local store renames a
complete, fsynced file into place; S3 makes an object visible only once its PUT completes.
A full disk, an exhausted quota or an S3 "no space" answer all become :class:`StorageFull`,
which the hub answers with 507 ``storage_full``.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

from sohoa_common.atomic import TMP_PREFIX, atomic_move, fsync_dir


class StorageFull(Exception):
    """No room for the object (disk, quota or object store); nothing was stored."""


def object_key(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256}"


class ObjectStore(Protocol):
    """Where verified documents end up."""

    def has(self, key: str) -> bool: ...

    def put_file(self, key: str, src: Path, size: int) -> None:
        """Store the complete file ``src`` under ``key`` atomically; ``src`` is consumed."""
        ...

    def read(self, key: str) -> bytes: ...


class LocalStore:
    """A directory tree. The quota is not kept here: ``[storage] quota_bytes`` is checked
    once, when an upload is created, against the hub database (stored objects plus what
    open uploads may still bring, ``provisioning.hub.service.HubService.check_room``), which every replica
    shares; a count kept by each process drifted apart between replicas."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def put_file(self, key: str, src: Path, size: int) -> None:
        dst = self._path(key)
        if dst.is_file() and dst.stat().st_size == size:
            src.unlink(missing_ok=True)
            return
        try:
            self._move_in(src, dst)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(str(exc)) from exc
            raise

    def _move_in(self, src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            atomic_move(src, dst)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        tmp = dst.with_name(TMP_PREFIX + dst.name)
        try:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1024 * 1024)
                fout.flush()
                os.fsync(fout.fileno())
            os.replace(tmp, dst)
            fsync_dir(dst.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        src.unlink(missing_ok=True)


class S3Store:
    """An S3-compatible bucket (SeaweedFS, MinIO, Ceph, AWS) through boto3, SigV4."""

    def __init__(
        self,
        bucket: str,
        endpoint_url: str = "",
        access_key: str = "",
        secret_key: str = "",
        region: str = "us-east-1",
        create_bucket: bool = True,
    ):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        if create_bucket:
            self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def has(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put_file(self, key: str, src: Path, size: int) -> None:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import ClientError

        if self.has(key):
            src.unlink(missing_ok=True)
            return
        try:
            self.client.upload_file(str(src), self.bucket, key)
        except (ClientError, S3UploadFailedError) as exc:
            text = str(exc)
            if any(w in text for w in ("InsufficientStorage", "QuotaExceeded", "507", "NoSpace")):
                raise StorageFull(text) from exc
            raise
        src.unlink(missing_ok=True)


def open_store(settings: Any) -> ObjectStore:
    """The store ``[storage]`` of the hub settings names."""
    cfg = settings.storage
    if cfg.backend == "s3":
        s3 = cfg.s3
        return S3Store(
            s3.bucket, s3.endpoint_url, s3.access_key, s3.secret_key, s3.region, s3.create_bucket
        )
    return LocalStore(settings.objects_dir)
