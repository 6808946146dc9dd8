"""Offline OCR for text and symbol crop proposals: Debian's Tesseract, run as a command.

The image goes in as PNG on stdin and words come back as TSV (level 5 rows), so nothing is
written to disk and no Python binding is needed. Sparse-text segmentation (``--psm 11``)
suits photographs, where text is scattered: signs, plates, labels.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

from app.domain import png
from app.domain.codecs.base import RGB8
from app.domain.crops import Word


class OcrUnavailable(RuntimeError):
    pass


class TesseractOcr:
    name = "tesseract"

    def __init__(
        self, *, language: str = "eng", min_confidence: float = 40.0, timeout_s: float = 120.0
    ) -> None:
        self.program = shutil.which("tesseract")
        if self.program is None:
            raise OcrUnavailable(
                "tesseract not found on PATH (Debian: apt-get install tesseract-ocr; "
                "`make demo` and `make test` install it)"
            )
        self.language = language
        self.min_confidence = min_confidence
        self.timeout_s = timeout_s

    def version(self) -> str:
        assert self.program is not None
        out = subprocess.run(
            [self.program, "--version"], capture_output=True, text=True, check=False, timeout=30
        )
        return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""

    def read(self, rgb: RGB8) -> list[Word]:
        assert self.program is not None
        done = subprocess.run(
            [self.program, "stdin", "stdout", "-l", self.language, "--psm", "11", "tsv"],
            input=png.encode(rgb, compress_level=1),
            capture_output=True,
            timeout=self.timeout_s,
            check=False,
            env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"},
        )
        if done.returncode != 0:
            raise OcrUnavailable(f"tesseract failed: {done.stderr.decode(errors='replace')[:500]}")
        words = []
        for row in csv.DictReader(io.StringIO(done.stdout.decode()), delimiter="\t"):
            text = (row.get("text") or "").strip()
            if row.get("level") != "5" or not text:
                continue
            confidence = float(row["conf"])
            if confidence < self.min_confidence:
                continue
            words.append(
                Word(
                    int(row["left"]),
                    int(row["top"]),
                    int(row["width"]),
                    int(row["height"]),
                    text,
                    confidence,
                )
            )
        return words
