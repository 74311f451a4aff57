"""What spikestore ships for testing it, and for testing a new storage backend.

* :class:`WorkspaceContract` — the contract every location must keep (round
  trips of every stored type, item operations, lazy reads, verify and gc),
  written as pytest tests: subclass it and provide a ``contract_location``
  fixture, as zarr-python's ``zarr.testing.store.StoreTests`` is used;
* :class:`CountingS3Server` — moto's S3 server on 127.0.0.1 (a real HTTP
  endpoint) that counts requests and bytes;
* :func:`assert_same` and the sample objects of :mod:`.samples`.

Needs the ``test`` extra (pytest, moto[server]).
"""

from .compare import assert_same
from .contract import WorkspaceContract
from .s3_server import CountingS3Server, RequestCounts
from .samples import all_items, big_endian_items

__all__ = ["WorkspaceContract", "CountingS3Server", "RequestCounts", "assert_same", "all_items", "big_endian_items"]
