"""Where media live, as the operator writes it in ``MISCOMP_MEDIA_URL``: empty for the local
folder (``MISCOMP_MEDIA_ROOT``), or ``s3://BUCKET/optional/prefix`` for an S3-compatible
bucket. Parsed once, when the settings are read, so that a typo stops every process at
start rather than failing its first upload."""

from __future__ import annotations

import re
from dataclasses import dataclass

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
"""S3's rules for a bucket name: 3 to 63 lower-case letters, digits, dots and hyphens,
starting and ending with a letter or digit."""
_PREFIX_PART = re.compile(r"^[A-Za-z0-9!_.*'()-]+$")
"""A folder of the prefix: S3's "safe characters", so that every client and console shows
the keys the same way."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    """Empty, or folders ending in ``/``: prepended to every storage key."""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_media_url(url: str) -> S3Location:
    """``s3://bucket/a/b`` -> S3Location("bucket", "a/b/"); ValueError, in words, for
    anything else."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme != "s3":
        raise ValueError(
            f"MISCOMP_MEDIA_URL must be s3://BUCKET/optional/prefix (or empty for the local "
            f"folder), not {url!r}"
        )
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            f"{bucket!r} is not an S3 bucket name (3 to 63 lower-case letters, digits, dots "
            "and hyphens, beginning and ending with a letter or digit)"
        )
    parts = [part for part in prefix.split("/") if part]
    for part in parts:
        if part in {".", ".."} or not _PREFIX_PART.fullmatch(part):
            raise ValueError(
                f"the prefix folder {part!r} of MISCOMP_MEDIA_URL may hold only letters, "
                "digits and !_.*'()- (and is not . or ..)"
            )
    return S3Location(bucket=bucket, prefix="".join(f"{part}/" for part in parts))
