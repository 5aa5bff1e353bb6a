"""Parse an XMP packet into flat `{"prefix:name": value}` properties, safely.

XMP is attacker-controlled XML. We refuse any packet with a DOCTYPE (the only way to
declare entities), so no entity expansion ("billion laughs") or external entity can happen,
then parse with the standard library's expat-based ElementTree.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from .record import MetadataError

MAX_XMP_CHARS = 16 * 1024 * 1024

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PREFIXES = {
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.google.com/photos/1.0/image/": "GImage",
}
_DOCTYPE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_xmp(packet: str) -> dict[str, Any]:
    """Flat properties of every rdf:Description; list values for rdf:Bag/Seq, text for rdf:Alt."""
    if len(packet) > MAX_XMP_CHARS:
        raise MetadataError(f"XMP packet is larger than {MAX_XMP_CHARS} characters")
    if _DOCTYPE.search(packet):
        raise MetadataError("XMP packet declares a DOCTYPE/ENTITY; refused (entity expansion)")
    start = packet.find("<x:xmpmeta")
    if start < 0:
        start = packet.find("<rdf:RDF")
    end_tag = "</x:xmpmeta>" if packet.startswith("<x:xmpmeta", start) else "</rdf:RDF>"
    end = packet.rfind(end_tag)
    if start < 0 or end < 0:
        raise MetadataError("XMP packet has no x:xmpmeta / rdf:RDF element")
    try:
        root = ET.fromstring(packet[start : end + len(end_tag)])
    except ET.ParseError as exc:
        raise MetadataError(f"XMP packet is not well-formed XML ({exc})") from None
    props: dict[str, Any] = {}
    for desc in root.iter(f"{{{RDF}}}Description"):
        for attr, value in desc.attrib.items():
            if not attr.startswith(f"{{{RDF}}}"):
                props.setdefault(_short(attr), value)
        for child in desc:
            props.setdefault(_short(child.tag), _property_value(child))
    return props


def _short(tag: str) -> str:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        prefix = PREFIXES.get(uri)
        return f"{prefix}:{local}" if prefix else local
    return tag


def _property_value(element: ET.Element) -> Any:
    container = next(iter(element), None)
    if container is None:
        return (element.text or "").strip() or {_short(k): v for k, v in element.attrib.items()}
    if container.tag in (f"{{{RDF}}}Alt", f"{{{RDF}}}Bag", f"{{{RDF}}}Seq"):
        items = [(li.text or "").strip() for li in container if li.tag == f"{{{RDF}}}li"]
        if container.tag == f"{{{RDF}}}Alt":
            return items[0] if items else ""
        return items
    return {_short(c.tag): (c.text or "").strip() for c in element}
