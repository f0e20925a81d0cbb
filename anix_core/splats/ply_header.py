"""PLY header parsing shared by the INRIA and the compressed PLY readers.

The header is parsed into elements with typed properties; byte sizes of every binary element
are known before any data is touched, so a lying header is caught against the file size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import SceneFormatError

MAX_HEADER_BYTES = 1 << 20

PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
FORMATS = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": "ascii"}


@dataclass
class PlyProperty:
    name: str
    type: str            # numpy kind+size, e.g. "f4"; "list" for list properties
    list_types: tuple = ()


@dataclass
class PlyElement:
    name: str
    count: int
    properties: list = field(default_factory=list)

    @property
    def has_list(self) -> bool:
        return any(p.type == "list" for p in self.properties)

    def names(self) -> list[str]:
        return [p.name for p in self.properties]

    def dtype(self, byte_order: str) -> np.dtype:
        """Packed structured dtype of one binary row (no list properties)."""
        return np.dtype([(p.name, byte_order + p.type) for p in self.properties])


@dataclass
class PlyHeader:
    format: str                 # "<", ">" or "ascii"
    elements: list
    comments: list
    data_offset: int            # byte offset of the first data byte

    def element(self, name: str) -> PlyElement | None:
        for element in self.elements:
            if element.name == name:
                return element
        return None

    @property
    def antialiased(self) -> bool:
        """Writers' requests for antialiased (mip) rasterisation: Postshot and Brush comments."""
        for comment in self.comments:
            text = comment.strip().lower()
            if text.replace(" ", "") in ("antialiased1", "antialiased=1", "antialiased:1", "antialiasedtrue"):
                return True
            if text.replace(" ", "").startswith("splatrendermode:mip"):
                return True
        return False


def read_header(path, data: bytes | None = None) -> PlyHeader:
    """Parse the PLY header of `path` (or of the given leading bytes)."""
    if data is None:
        with open(path, "rb") as f:
            data = f.read(MAX_HEADER_BYTES)
    if not (data.startswith(b"ply\n") or data.startswith(b"ply\r\n")):
        raise SceneFormatError(path, "not a PLY file: it does not start with the line 'ply'")
    end = data.find(b"end_header")
    if end < 0:
        if len(data) >= MAX_HEADER_BYTES:
            raise SceneFormatError(path, f"PLY header has no 'end_header' within the first {MAX_HEADER_BYTES} bytes")
        raise SceneFormatError(path, "PLY header has no 'end_header' line (file truncated or not a PLY)")
    line_end = data.find(b"\n", end)
    if line_end < 0:
        raise SceneFormatError(path, "PLY header ends without a newline after 'end_header'; no data follows")
    try:
        text = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise SceneFormatError(path, "PLY header contains non-ASCII bytes") from None

    fmt = None
    elements: list[PlyElement] = []
    comments: list[str] = []
    for number, raw in enumerate(text.splitlines()[1:], start=2):
        words = raw.split()
        if not words:
            continue
        keyword = words[0]
        if keyword in ("comment", "obj_info"):
            comments.append(raw.strip()[len(keyword):].strip())
        elif keyword == "format":
            if len(words) < 2 or words[1] not in FORMATS:
                raise SceneFormatError(path, f"header line {number}: unknown PLY format {raw.strip()!r}")
            fmt = FORMATS[words[1]]
        elif keyword == "element":
            if len(words) != 3:
                raise SceneFormatError(path, f"header line {number}: malformed element line {raw.strip()!r}")
            try:
                count = int(words[2])
            except ValueError:
                raise SceneFormatError(path, f"header line {number}: element count {words[2]!r} is not an integer") from None
            if count < 0:
                raise SceneFormatError(path, f"header line {number}: negative element count {count}")
            elements.append(PlyElement(words[1], count))
        elif keyword == "property":
            if not elements:
                raise SceneFormatError(path, f"header line {number}: property before any element")
            element = elements[-1]
            if len(words) >= 2 and words[1] == "list":
                if len(words) != 5 or words[2] not in PLY_TYPES or words[3] not in PLY_TYPES:
                    raise SceneFormatError(path, f"header line {number}: malformed list property {raw.strip()!r}")
                prop = PlyProperty(words[4], "list", (PLY_TYPES[words[2]], PLY_TYPES[words[3]]))
            else:
                if len(words) != 3:
                    raise SceneFormatError(path, f"header line {number}: malformed property line {raw.strip()!r}")
                if words[1] not in PLY_TYPES:
                    raise SceneFormatError(
                        path, f"header line {number}: property {words[2]!r} has unknown type {words[1]!r} "
                        f"(known: {', '.join(sorted(set(PLY_TYPES)))})")
                prop = PlyProperty(words[2], PLY_TYPES[words[1]])
            if prop.name in element.names():
                raise SceneFormatError(path, f"header line {number}: property {prop.name!r} appears twice in element {element.name!r}")
            element.properties.append(prop)
        else:
            raise SceneFormatError(path, f"header line {number}: unexpected header keyword {keyword!r}")
    if fmt is None:
        raise SceneFormatError(path, "PLY header has no 'format' line")
    return PlyHeader(fmt, elements, comments, line_end + 1)


def binary_layout(path, header: PlyHeader, file_size: int, needed: tuple[str, ...]) -> dict[str, tuple[int, np.dtype]]:
    """Byte offset and row dtype of each binary element up to the last one in `needed`.

    Raises when an element that precedes a needed one has list properties (its size is
    unknown) or when the file is too short for what the header claims.
    """
    offset = header.data_offset
    layout: dict[str, tuple[int, np.dtype]] = {}
    last = max(i for i, e in enumerate(header.elements) if e.name in needed)
    for element in header.elements[: last + 1]:
        if element.has_list:
            raise SceneFormatError(path, f"element {element.name!r} has list properties; binary list data before the splats is not supported")
        dtype = element.dtype(header.format)
        size = element.count * dtype.itemsize
        available = max(file_size - offset, 0)
        if size > available:
            raise SceneFormatError(
                path, f"header claims {element.count} {'splats' if element.name == 'vertex' else element.name + ' rows'} "
                f"({size} bytes at offset {offset}) "
                f"but the file holds only {available} bytes there: truncated or lying header")
        layout[element.name] = (offset, dtype)
        offset += size
    return layout
