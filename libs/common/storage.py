"""S3 object storage on the `minio` client.

Keys start with the tenant id (`<tenant>/<sha256>`), nothing is public: the gateway
serves bytes or short-lived presigned URLs after checking who asks. The minio client
is blocking, so calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import BinaryIO

from minio import Minio
from minio.error import S3Error

from libs.common.settings import CommonSettings


class ObjectNotFound(Exception):
    pass


class ObjectStore:
    def __init__(self, settings: CommonSettings) -> None:
        self.client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
        self.originals = settings.s3_bucket_originals
        self.thumbnails = settings.s3_bucket_thumbnails

    def _ensure_buckets(self) -> None:
        for bucket in (self.originals, self.thumbnails):
            try:
                if not self.client.bucket_exists(bucket):
                    self.client.make_bucket(bucket)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    async def ensure_buckets(self) -> None:
        await asyncio.to_thread(self._ensure_buckets)

    async def put(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        await asyncio.to_thread(
            self.client.put_object, bucket, key, io.BytesIO(data), len(data), content_type=content_type
        )

    async def put_file(
        self,
        bucket: str,
        key: str,
        stream: BinaryIO,
        length: int,
        content_type: str = "application/octet-stream",
    ) -> None:
        """Put `length` bytes read from `stream` (a file, or a window of one), never all of them in memory.

        The client reads the stream one part at a time (5 MiB for anything under ~48 GiB; objects up to
        one part go in one PUT, larger ones as a multipart upload) and sends one part at a time, so a put
        holds about one part whatever the object's size. The stream is read from its current position and
        not closed.
        """
        await asyncio.to_thread(
            self.client.put_object, bucket, key, stream, length,
            content_type=content_type, num_parallel_uploads=1,
        )  # fmt: skip

    def _get(self, bucket: str, key: str) -> bytes:
        try:
            response = self.client.get_object(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise ObjectNotFound(f"{bucket}/{key}") from None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    async def get(self, bucket: str, key: str) -> bytes:
        return await asyncio.to_thread(self._get, bucket, key)

    def _exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.stat_object(bucket, key)
            return True
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                return False
            raise

    async def exists(self, bucket: str, key: str) -> bool:
        return await asyncio.to_thread(self._exists, bucket, key)

    async def ping(self) -> None:
        await asyncio.to_thread(self.client.bucket_exists, self.originals)

    def presigned_get(self, bucket: str, key: str, expires: timedelta = timedelta(minutes=10)) -> str:
        return self.client.presigned_get_object(bucket, key, expires=expires)


def original_key(tenant_id: object, sha256: str) -> str:
    return f"{tenant_id}/{sha256}"


def thumbnail_key(tenant_id: object, asset_id: object, size: str) -> str:
    return f"{tenant_id}/{asset_id}/{size}.webp"
